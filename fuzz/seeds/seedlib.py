"""Encoders shared by the seed generators: little-endian integers, one-byte booleans and
`Option` tags, and a reader for the string and number lists of a Rust source file (so seeds
pick known values by name)."""
import ast
import re
import struct

u8 = lambda v: struct.pack("<B", v)
u16 = lambda v: struct.pack("<H", v)
u32 = lambda v: struct.pack("<I", v)
u64 = lambda v: struct.pack("<Q", v)
boolean = lambda v: u8(1 if v else 0)


def option(v, enc):
    return boolean(False) if v is None else boolean(True) + enc(v)


def rust_list(src, name):
    """The elements of `[pub] const NAME: &[..] = &[...];` in `src`."""
    body = re.search(r"const %s: &\[[^\]]*\] = &\[(.*?)\];" % name, src, re.S).group(1)
    return [ast.literal_eval(x.strip()) for x in re.findall(r'"(?:[^"\\]|\\.)*"|\d+', body)]
