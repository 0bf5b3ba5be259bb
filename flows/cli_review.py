"""``muster review``: accounts Muster would not link on its own, and access reviews (``start``, ``show`` …)."""

from __future__ import annotations

from pathlib import Path

import typer

from flows.cli import ConfigOption, UserError, _workspace, app, console

review_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                         help="Accounts to link by hand; access reviews: start, show, answer, remind, close.")
app.add_typer(review_app, name="review")


def _print(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True, markup=False)


def _user_errors(call, *args, **kw):
    from flows.access_review import AccessReviewError

    try:
        return call(*args, **kw)
    except AccessReviewError as exc:
        raise UserError(str(exc)) from None


@review_app.callback()
def review(ctx: typer.Context, config: Path | None = ConfigOption) -> None:
    """List accounts Muster would not link on its own (and open access reviews)."""
    if ctx.invoked_subcommand:
        return
    import state

    ws = _workspace(config)
    items = state.open_reviews(ws.db)
    if not items:
        console.print("nothing to review")
    for item in items:
        candidates = ", ".join(item["candidates"])
        _print(f"{item['service']} {item['external_id']}: {item['reason']} (candidates: {candidates})")
    for r in state.access_reviews(ws.db, status="open"):
        _print(f"access review {r['id']} ({r['scope']}): {_counts(r['counts'])}; `muster review show {r['id']}`")


def _counts(counts: dict) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no items"


def _finish(ws, run_id: str, status: str, summary: dict) -> None:
    import state

    state.finish_run(ws.db, run_id, status, summary)


@review_app.command("start")
def review_start(config: Path | None = ConfigOption,
                 scope: str = typer.Option("all", "--scope", help="all | service:S | resource:S/KEY"),
                 deadline: str | None = typer.Option(None, "--deadline", help="e.g. 7d (default: review.deadline)"),
                 remind_after: str | None = typer.Option(None, "--remind-after",
                                                         help="e.g. 2d (default: review.remind_after)")) -> None:
    """Open an access review: each owner gets the list of who has access to what they own."""
    import state
    from flows.access_review import start_review

    ws = _workspace(config)
    run_id = state.start_run(ws.db, "review", actor=ws.actor, params={"scope": scope})
    try:
        started = _user_errors(start_review, ws, scope, deadline=deadline, remind_after=remind_after, run_id=run_id)
    except UserError as exc:
        _finish(ws, run_id, "refused", {"error": str(exc)})
        raise
    review = state.get_access_review(ws.db, started.review_id)
    _print(f"access review {started.review_id} opened: {started.items} item(s) for {len(started.reviewers)} "
           f"reviewer(s), due {review['deadline'][:16].replace('T', ' ')} UTC")
    for notice in started.notices:
        how = f"notified on {notice.service}" if notice.service else f"NOT notified: {notice.why}"
        _print(f"  {notice.person_id}: {started.reviewers[notice.person_id]} item(s), {how}")
    for service, why in started.skipped.items():
        _print(f"  {service} left out: {why}")
    _finish(ws, run_id, "ok", {"review": started.review_id, "items": started.items})


@review_app.command("show")
def review_show(review_id: str | None = typer.Argument(None, help="a review id (default: list the reviews)"),
                config: Path | None = ConfigOption) -> None:
    """Show a review's items with their status, per reviewer (or list the reviews)."""
    import state
    from flows.access_review import get_review

    ws = _workspace(config)
    if review_id is None:
        reviews = state.access_reviews(ws.db)
        for r in reviews:
            _print(f"{r['id']}  {r['status']:<6} {r['scope']:<24} opened {r['opened_at'][:10]}  {_counts(r['counts'])}")
        console.print(f"{len(reviews)} access review(s)")
        return
    review = _user_errors(get_review, ws, review_id)
    opened, due = (review[k][:16].replace("T", " ") for k in ("opened_at", "deadline"))
    _print(f"access review {review['id']} ({review['scope']}), {review['status']}, opened {opened} UTC "
           f"by {review['opened_by']}, due {due} UTC: {_counts(review['counts'])}")
    for reviewer, rows in _per_reviewer(state.access_review_items(ws.db, review["id"])).items():
        _print(f"reviewer {reviewer}:")
        for r in rows:
            member = " ".join(x for x in (r["member_name"], r["member_mobile"]) if x)
            answer = f" by {r['answered_by']}" if r["answered_by"] else ""
            note = f" ({r['outcome'] or r['reason']})" if r["outcome"] or r["reason"] else ""
            _print(f"  {r['item']:>4} {r['status']:<9} {r['service']} {r['kind']} {r['resource_name']}: "
                   f"{member} [{r['level']}]{answer}{note}")


def _per_reviewer(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        who = row["escalated_to"] or row["owner_id"]
        out.setdefault(f"{who} (escalated)" if row["escalated_to"] else who, []).append(row)
    return dict(sorted(out.items()))


@review_app.command("answer")
def review_answer(review_id: str, items: list[str] = typer.Argument(..., help="item numbers: 3 4, 3,4 or 3-7"),
                  confirm: bool = typer.Option(False, "--confirm", help="keep the access"),
                  remove: bool = typer.Option(False, "--remove", help="remove it (needs --reason)"),
                  reason: str = typer.Option("", "--reason", help="why (required with --remove)"),
                  by: str | None = typer.Option(None, "--by", help="the reviewer answering (a person id)"),
                  allow_removals: bool = typer.Option(False, "--allow-removals",
                                                      help="approve removals a guard holds"),
                  config: Path | None = ConfigOption) -> None:
    """Confirm or remove items; removals go through the plan, guards and journal, with the reason."""
    from flows.access_review import answer_review

    if confirm == remove:
        raise UserError("say --confirm or --remove (one of them)")
    numbers = _numbers(items)
    ws = _workspace(config)
    done = _user_errors(answer_review, ws, review_id, numbers, remove=remove, reason=reason, by=by,
                        allow_removals=allow_removals)
    if done.confirmed:
        _print(f"{done.review_id}: confirmed item(s) {', '.join(map(str, done.confirmed))}")
    for item, outcome in sorted(done.removed.items()):
        _print(f"{done.review_id}: item {item} removed ({outcome})")
    for item, why in sorted({**done.held, **done.failed}.items()):
        _print(f"{done.review_id}: item {item} NOT removed, {why}")
    if done.held:
        _print("  the item(s) stay open: answer again with --allow-removals to approve")
    raise typer.Exit(1 if done.failed else 2 if done.held else 0)


def _numbers(texts: list[str]) -> list[int]:
    out = []
    for text in texts:
        for part in filter(None, (p.strip() for p in text.split(","))):
            first, _, last = part.partition("-")
            if not first.isdigit() or (last and not last.isdigit()):
                raise UserError(f"item {part!r} is not an item number (use 3, 3,4 or 3-7)")
            out += range(int(first), int(last or first) + 1)
    return out


@review_app.command("remind")
def review_remind(review_id: str | None = typer.Argument(None, help="one review (default: every open one)"),
                  config: Path | None = ConfigOption) -> None:
    """Remind reviewers of pending items (once per period); past the deadline, escalate to the coordinator."""
    import state
    from flows.access_review import remind_reviews

    ws = _workspace(config)
    run_id = state.start_run(ws.db, "review", actor=ws.actor, params={"remind": review_id or "all"})
    passes = _user_errors(remind_reviews, ws, run_id, review_id=review_id)
    for done in passes:
        for reviewer, round_, notice in done.reminders:
            how = f"on {notice.service}" if notice.service else "already sent" if notice.already else notice.why
            _print(f"{done.review_id}: reminder {round_} to {reviewer}: {how}")
        if done.escalated:
            _print(f"{done.review_id}: {len(done.escalated)} item(s) escalated")
        if done.escalation and done.escalation.service:
            _print(f"{done.review_id}: coordinator {done.escalation.person_id} notified on {done.escalation.service}")
        elif done.escalation and not done.escalation.delivered:
            _print(f"{done.review_id}: coordinator {done.escalation.person_id} NOT notified: {done.escalation.why}")
        if done.error:
            _print(f"{done.review_id}: {done.error}")
        if not (done.reminders or done.escalation or done.error):
            _print(f"{done.review_id}: nothing due")
    if not passes:
        console.print("no open access review")
    _finish(ws, run_id, "partial" if any(d.error for d in passes) else "ok",
            {"reviews": [d.review_id for d in passes]})


@review_app.command("close")
def review_close(review_id: str, config: Path | None = ConfigOption) -> None:
    """Close a review: no more answers or reminders (open items are kept as they are, in the audit log)."""
    from flows.access_review import close_review

    ws = _workspace(config)
    review = _user_errors(close_review, ws, review_id)
    _print(f"access review {review['id']} closed: {_counts(review['counts'])}")
