"""Services without a usable membership API: personal WeChat groups, Shimo (石墨文档) folders and files.

``ManualConnector`` serves the groups people declared and confirmed; ``files`` reads the
spreadsheets they keep (declared groups) and the member lists they export (to verify a work
item). The flows (``flows.work_items``) turn a plan's changes for these services into work
items for each group's owner.
"""

from connectors.manual.connector import ManualConnector
from connectors.manual.files import DeclarationError, check_members, read_groups_file, read_member_list
from connectors.manual.models import DeclaredGroup, DeclaredMember, ListedMember, ManualGroup, ManualMember

__all__ = ["DeclarationError", "DeclaredGroup", "DeclaredMember", "ListedMember", "ManualConnector", "ManualGroup",
           "ManualMember", "check_members", "read_groups_file", "read_member_list"]
