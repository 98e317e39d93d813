"""Outlook .msg files as Outlook saves them, for the tests: an OLE compound file
([MS-CFB], version 3, 512-byte sectors, a mini stream for streams under 4,096 bytes)
holding the storages and streams of [MS-OXMSG] — the message's properties stream
(a 32-byte header, 24 for an attached message), its subject, body and class as
PtypString streams, one `__attach_version1.0_#XXXXXXXX` storage per attachment (long
and short file names, MIME type, the bytes, PidTagAttachMethod) and, for an attached
message (method 5), its own message storage `__substg1.0_3701000D`.

Why our own writer: olefile only rewrites streams of an existing file, python-oxmsg and
extract-msg only read, and the one library that writes .msg from Python is a
commercial product's port. MS-CFB is short and exact; olefile and python-oxmsg read
what this writes (tests/mail/test_containers.py checks the round trip)."""

from __future__ import annotations

import struct

SECTOR, MINI_SECTOR, MINI_CUTOFF = 512, 64, 4096
FREESECT, ENDOFCHAIN, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
STORAGE, STREAM, ROOT = 1, 2, 5
PT_LONG, PT_UNICODE, PT_BINARY, PT_OBJECT = 0x0003, 0x001F, 0x0102, 0x000D
PROPS = "__properties_version1.0"


class Node:
    def __init__(self, name: str, data: bytes | None = None, children: list[Node] | None = None):
        self.name, self.data = name, data
        self.children = (children or []) if data is None else None  # None: a stream
        self.sid = 0
        self.start, self.size = ENDOFCHAIN, 0


def _key(node: Node) -> tuple[int, str]:
    """The order of siblings in MS-CFB: shorter names first, then by upper-case name."""
    return len(node.name), node.name.upper()


def compound_file(children: list[Node]) -> bytes:
    root = Node("Root Entry", children=children)
    nodes: list[Node] = []

    def number(node: Node) -> None:
        node.sid = len(nodes)
        nodes.append(node)
        for child in node.children or ():
            number(child)

    number(root)
    streams = [n for n in nodes if n.data is not None]
    mini = [n for n in streams if len(n.data) < MINI_CUTOFF]
    big = [n for n in streams if len(n.data) >= MINI_CUTOFF]

    mini_stream, mini_fat = bytearray(), []
    for node in mini:
        node.size = len(node.data)
        if not node.data:
            continue
        count = -(-len(node.data) // MINI_SECTOR)
        node.start = len(mini_fat)
        mini_fat += [node.start + i + 1 for i in range(count - 1)] + [ENDOFCHAIN]
        mini_stream += node.data + b"\x00" * (count * MINI_SECTOR - len(node.data))

    def sectors(size: int) -> int:
        return -(-size // SECTOR)

    dir_sectors = sectors(len(nodes) * 128)
    minifat_sectors = sectors(len(mini_fat) * 4)
    ministream_sectors = sectors(len(mini_stream))
    big_sectors = [sectors(len(n.data)) for n in big]
    others = dir_sectors + minifat_sectors + ministream_sectors + sum(big_sectors)
    fat_sectors = 1
    while fat_sectors * (SECTOR // 4) < fat_sectors + others:
        fat_sectors += 1
    assert fat_sectors <= 109, "a test file that large needs DIFAT sectors"

    fat: list[int] = [FATSECT] * fat_sectors

    def chain(count: int) -> int:
        start = len(fat)
        fat.extend([start + i + 1 for i in range(count - 1)] + [ENDOFCHAIN])
        return start

    dir_start = chain(dir_sectors)
    minifat_start = chain(minifat_sectors) if minifat_sectors else ENDOFCHAIN
    root.start = chain(ministream_sectors) if ministream_sectors else ENDOFCHAIN
    root.size = len(mini_stream)
    for node, count in zip(big, big_sectors):
        node.start, node.size = chain(count), len(node.data)
    fat += [FREESECT] * (fat_sectors * (SECTOR // 4) - len(fat))

    siblings: dict[int, tuple[int, int]] = {}
    children_of: dict[int, int] = {}

    def tree(group: list[Node]) -> int:
        """A balanced binary search tree of siblings (all black: readers do not check colours)."""
        if not group:
            return NOSTREAM
        middle = len(group) // 2
        siblings[group[middle].sid] = (tree(group[:middle]), tree(group[middle + 1:]))
        return group[middle].sid

    for node in nodes:
        if node.children is not None:
            children_of[node.sid] = tree(sorted(node.children, key=_key))

    directory = bytearray()
    for node in nodes:
        name = node.name.encode("utf-16-le")
        assert len(name) <= 62
        kind = ROOT if node is root else STREAM if node.data is not None else STORAGE
        left, right = siblings.get(node.sid, (NOSTREAM, NOSTREAM))
        directory += struct.pack("<64sHBBIII16sIQQIQ", name, len(name) + 2, kind, 1, left, right,
                                 children_of.get(node.sid, NOSTREAM), b"\x00" * 16, 0, 0, 0,
                                 node.start, node.size)
    while len(directory) % SECTOR:
        directory += struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM,
                                 b"\x00" * 16, 0, 0, 0, 0, 0)

    difat = list(range(fat_sectors)) + [FREESECT] * (109 - fat_sectors)
    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\x00" * 16,
                         0x003E, 0x0003, 0xFFFE, 9, 6, b"\x00" * 6, 0, fat_sectors, dir_start, 0,
                         MINI_CUTOFF, minifat_start, minifat_sectors, ENDOFCHAIN, 0)
    header += struct.pack("<109I", *difat)

    def padded(data: bytes) -> bytes:
        return data + b"\x00" * (-len(data) % SECTOR)

    body = struct.pack(f"<{len(fat)}I", *fat) + bytes(directory)
    body += padded(struct.pack(f"<{len(mini_fat)}I", *mini_fat)) if mini_fat else b""
    body += padded(bytes(mini_stream))
    for node in big:
        body += padded(node.data)
    return header + body


def _properties(header: bytes, fixed: list[tuple[int, int, int]], variable: list[tuple[int, int, bytes]]) -> bytes:
    """A properties stream: its header, then 16 bytes per property (tag, flags, value)."""
    out = header
    for ptype, pid, value in fixed:
        out += struct.pack("<IIII", (pid << 16) | ptype, 0x6, value, 0)
    for ptype, pid, data in variable:
        size = 0xFFFFFFFF if ptype == PT_OBJECT else len(data) + (2 if ptype == PT_UNICODE else 0)
        out += struct.pack("<IIII", (pid << 16) | ptype, 0x6, size, 0)
    return out


def _stream(pid: int, ptype: int, data: bytes) -> Node:
    return Node(f"__substg1.0_{pid:04X}{ptype:04X}", data)


def _text(value: str) -> bytes:
    return value.encode("utf-16-le")


def message_nodes(subject: str, body: str, files: list[tuple[str, bytes, str]] = (),
                  messages: list[dict] = (), embedded: bool = False) -> list[Node]:
    """The storages and streams of a message (files: (long name, data, MIME type))."""
    texts = [(0x001A, "IPM.Note"), (0x0037, subject), (0x1000, body)]
    nodes = [_stream(pid, PT_UNICODE, _text(value)) for pid, value in texts]
    attachments = []
    for index, (name, data, mime) in enumerate(files):
        short = name if len(name) <= 12 else name[:6].upper() + "~1." + name.rpartition(".")[2][:3].upper()
        strings = [(0x3707, name), (0x3704, short), (0x370E, mime), (0x3703, "." + name.rpartition(".")[2])]
        props = _properties(b"\x00" * 8, [(PT_LONG, 0x3705, 1), (PT_LONG, 0x0E21, index)],
                            [(PT_UNICODE, pid, _text(v)) for pid, v in strings] + [(PT_BINARY, 0x3701, data)])
        attachments.append(Node(f"__attach_version1.0_#{index:08X}", children=[
            Node(PROPS, props), _stream(0x3701, PT_BINARY, data),
            *[_stream(pid, PT_UNICODE, _text(v)) for pid, v in strings]]))
    for index, inner in enumerate(messages, start=len(files)):
        props = _properties(b"\x00" * 8, [(PT_LONG, 0x3705, 5), (PT_LONG, 0x0E21, index)],
                            [(PT_UNICODE, 0x3001, _text(inner["subject"])), (PT_OBJECT, 0x3701, b"")])
        attachments.append(Node(f"__attach_version1.0_#{index:08X}", children=[
            Node(PROPS, props), _stream(0x3001, PT_UNICODE, _text(inner["subject"])),
            Node("__substg1.0_3701000D", children=message_nodes(**inner, embedded=True))]))
    count = len(attachments)
    header = (struct.pack("<8xIIII", 0, count, 0, count) + (b"" if embedded else b"\x00" * 8))
    nodes.append(Node(PROPS, _properties(header, [], [(PT_UNICODE, pid, _text(v)) for pid, v in texts])))
    if not embedded:
        nodes.append(Node("__nameid_version1.0", children=[
            Node("__substg1.0_00020102", b""), Node("__substg1.0_00030102", b""), Node("__substg1.0_00040102", b"")]))
    return nodes + attachments


def msg(subject: str, body: str, files: list[tuple[str, bytes, str]] = (), messages: list[dict] = ()) -> bytes:
    """A .msg file; `messages`: attached messages, each a dict of message_nodes' arguments."""
    return compound_file(message_nodes(subject, body, files, messages))
