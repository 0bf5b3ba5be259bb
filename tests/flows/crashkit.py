"""Killing the process mid-apply, for the resume tests."""


class Crash(BaseException):
    """A process dying mid-apply: not an Exception, so nothing on the way catches it."""


def crash_after(sandbox, path: str, n: int) -> None:
    """Make ``sandbox`` act on the n-th call to ``path``, then kill the caller before it hears back."""
    original, seen = sandbox.dispatch, [0]

    def dispatch(request):
        response = original(request)
        if request.url.path == path:
            seen[0] += 1
            if seen[0] == n:
                raise Crash(f"killed after {path} #{n}")
        return response

    sandbox.dispatch = dispatch
