#!/usr/bin/env python3
"""Generates src/protocol/messages/ from Apache Kafka's JSON message schemas.

    python3 codegen/generate_messages.py [SCHEMA_DIR] [OUT_DIR]

SCHEMA_DIR defaults to ../shared/kafka-protocol (Kafka 3.8.0's schemas), OUT_DIR to
src/protocol/messages. Kafka builds its own serialisers from these files the same way;
generating ours keeps every field, version range, nullability and tagged field exactly
as the spec says, for ~40 messages over ~150 versions, which hand-written code would
get wrong somewhere.

The output is plain Rust built on src/protocol/primitives.rs and tagged.rs: one file
per message, a struct per schema structure, an `Encode` and a `Decode` impl each, and
(in a test-only section of each file) a builder of random valid values for the roundtrip
proptests. Run it again after changing it or the schemas; `cargo test` checks that
the committed output is what it generates (tests/generated_code_is_fresh.rs).
"""

import json
import os
import re
import subprocess
import sys

# The APIs this crate speaks, in api-key order, and the data structures it needs.
APIS = [
    "Produce", "Fetch", "ListOffsets", "Metadata", "OffsetCommit", "OffsetFetch",
    "FindCoordinator", "JoinGroup", "Heartbeat", "LeaveGroup", "SyncGroup",
    "DescribeGroups", "ListGroups", "SaslHandshake", "ApiVersions", "CreateTopics",
    "DeleteTopics", "InitProducerId", "SaslAuthenticate",
]
DATA = ["ConsumerProtocolSubscription", "ConsumerProtocolAssignment"]

PRIMITIVES = {
    "bool": ("bool", "false"), "int8": ("i8", "0"), "int16": ("i16", "0"),
    "uint16": ("u16", "0"), "int32": ("i32", "0"), "uint32": ("u32", "0"),
    "int64": ("i64", "0"), "float64": ("f64", "0.0"), "uuid": ("Uuid", "Uuid::ZERO"),
}
RUST_KEYWORDS = {"type", "match", "ref", "move", "self", "loop", "mod", "use", "fn", "in", "as"}


def load(path):
    text = open(path).read()
    text = re.sub(r"^\s*//.*$", "", text, flags=re.M)
    return json.loads(text)


class Versions:
    """A version set from a schema string: "N", "N+", "N-M" or "none"."""

    def __init__(self, spec):
        spec = (spec or "none").strip()
        if spec == "none":
            self.lo, self.hi = None, None
        elif spec.endswith("+"):
            self.lo, self.hi = int(spec[:-1]), None
        elif "-" in spec:
            lo, hi = spec.split("-")
            self.lo, self.hi = int(lo), int(hi)
        else:
            self.lo = self.hi = int(spec)

    def empty(self):
        return self.lo is None

    def contains(self, v):
        return self.lo is not None and v >= self.lo and (self.hi is None or v <= self.hi)

    def covers(self, valid):
        """True when this set holds every version of `valid`."""
        return not self.empty() and self.lo <= valid.lo and (self.hi is None or (valid.hi is not None and self.hi >= valid.hi))

    def cond(self, valid):
        """A Rust boolean expression in `version`, simplified against the message's range."""
        if self.empty() or (self.hi is not None and self.hi < valid.lo) or (valid.hi is not None and self.lo > valid.hi):
            return "false"
        lo_ok = self.lo <= valid.lo
        hi_ok = self.hi is None or (valid.hi is not None and self.hi >= valid.hi)
        if lo_ok and hi_ok:
            return "true"
        if hi_ok:
            return f"version >= {self.lo}"
        if lo_ok:
            return f"version <= {self.hi}"
        if self.lo == self.hi:
            return f"version == {self.lo}"
        return f"({self.lo}..={self.hi}).contains(&version)"


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s).lower()
    return "r#" + s if s in RUST_KEYWORDS else s


def and_cond(a, b):
    if a == "false" or b == "false":
        return "false"
    if a == "true":
        return b
    if b == "true":
        return a
    return f"{a} && {b}"


class Field:
    def __init__(self, spec, valid, struct_name):
        self.spec = spec
        self.name = spec["name"]
        self.rust = snake(self.name)
        self.what = f"{struct_name}.{self.rust.removeprefix('r#')}"
        t = spec["type"]
        self.is_array = t.startswith("[]")
        self.elem = t[2:] if self.is_array else t
        self.versions = Versions(spec.get("versions"))
        self.nullable = Versions(spec.get("nullableVersions"))
        self.tag = spec.get("tag")
        self.tagged = Versions(spec.get("taggedVersions"))
        self.ignorable = spec.get("ignorable", False)
        self.default = spec.get("default")
        self.about = spec.get("about", "")
        self.valid = valid
        # The one field-level override in the schemas (RequestHeader.ClientId) is not
        # in any message we generate; refuse rather than mis-encode a new one.
        assert "flexibleVersions" not in spec, self.name

    @property
    def kind(self):
        if self.elem in PRIMITIVES:
            return "prim"
        if self.elem in ("string", "bytes", "records"):
            return self.elem
        return "struct"

    def nullable_everywhere(self):
        """Whether every version carrying the field allows null (no check needed)."""
        v, n = self.versions, self.nullable
        return not n.empty() and n.lo <= v.lo and (n.hi is None or (v.hi is not None and n.hi >= v.hi))

    @property
    def optional(self):
        return not self.nullable.empty()

    def elem_type(self):
        if self.elem in PRIMITIVES:
            return PRIMITIVES[self.elem][0]
        return {"string": "String", "bytes": "Bytes", "records": "Bytes"}.get(self.elem, self.elem)

    def rust_type(self):
        t = self.elem_type()
        if self.is_array:
            t = f"Vec<{t}>"
        return f"Option<{t}>" if self.optional else t

    def default_expr(self):
        d = self.default
        if self.is_array:
            empty = f"Vec::<{self.elem_type()}>::new()"
        elif self.kind == "prim":
            if d is None:
                return PRIMITIVES[self.elem][1]
            if self.elem == "bool":
                return "true" if str(d).lower() == "true" else "false"
            if self.elem == "float64":
                return repr(float(d))
            text = str(d)
            return str(int(text, 16) if text.lower().startswith("0x") else int(text))
        elif self.kind == "string":
            empty = "String::new()" if not d else f"String::from({json.dumps(d)})"
        elif self.kind in ("bytes", "records"):
            empty = "Bytes::new()"
        else:
            return f"{self.elem}::default()"
        if self.optional:
            if d == "null" or (self.kind == "records" and d is None):
                return "None"
            return f"Some({empty})"
        return empty


class Struct:
    def __init__(self, name, fields_spec, valid, flexible, about):
        self.name = name
        self.valid = valid
        self.flexible = flexible
        self.about = about
        self.fields = [Field(f, valid, name) for f in fields_spec]


class Message:
    """One schema file: its top-level struct and every struct nested in it."""

    def __init__(self, path):
        d = load(path)
        self.name = d["name"]
        self.kind = d["type"]
        self.api_key = d.get("apiKey")
        self.valid = Versions(d["validVersions"])
        self.flexible = Versions(d["flexibleVersions"])
        self.structs = []
        commons = {c["name"]: c for c in d.get("commonStructs", [])}
        self._collect(self.name, d["fields"], f"The {self.name} message.", commons)
        for c in commons.values():
            self._collect(c["name"], c["fields"], f"The {c['name']} structure.", commons)
        # The structs that hold record data, directly or through a nested struct.
        self.with_records = set()
        grew = True
        while grew:
            grew = False
            for st in self.structs:
                if st.name not in self.with_records and any(
                        f.kind == "records" or (f.kind == "struct" and f.elem in self.with_records) for f in st.fields):
                    self.with_records.add(st.name)
                    grew = True

    def _collect(self, name, fields, about, commons):
        if any(s.name == name for s in self.structs):
            return
        self.structs.append(Struct(name, fields, self.valid, self.flexible, about))
        for f in fields:
            if "fields" in f:
                self._collect(f["type"].removeprefix("[]"), f["fields"], f.get("about", ""), commons)

    @property
    def module(self):
        return snake(self.name)


# ---------------------------------------------------------------------------------
# Rust emitters


def doc(text, indent):
    text = " ".join(text.split()) or "See the Kafka protocol schema."
    return f"{indent}/// {text}\n"


def flexible_expr(msg):
    return msg.flexible.cond(msg.valid)


def read_one(f, target):
    """Rust expression reading one value (element) of field f from `target`."""
    what = json.dumps(f.what)
    if f.kind == "prim":
        fn = "read_bool" if f.elem == "bool" else f"read_{PRIMITIVES[f.elem][0].lower()}"
        return f"{fn}({target}, {what})"
    if f.kind == "string":
        return f"read_string({target}, flexible, {what})"
    if f.kind in ("bytes", "records"):
        return f"read_bytes({target}, flexible, {what})"
    return f"{f.elem}::decode({target}, version)"


def read_field(f, target):
    what = json.dumps(f.what)
    null_cond = f.nullable.cond(f.valid)
    if f.is_array:
        elem = read_one(f, "b")
        if f.optional:
            expr = f"read_nullable_array({target}, flexible, {what}, |b| {elem})?"
        else:
            return f"read_array({target}, flexible, {what}, |b| {elem})?"
    elif f.optional:
        reader = {"string": "read_nullable_string", "bytes": "read_nullable_bytes", "records": "read_nullable_bytes"}[f.kind]
        expr = f"{reader}({target}, flexible, {what})?"
    else:
        return read_one(f, target) + "?"
    if null_cond == "true" or f.nullable_everywhere():
        return expr
    return f"check_null({expr}, {null_cond}, {what}, version)?"


def write_one(f, buf, value):
    what = json.dumps(f.what)
    if f.kind == "prim":
        fn = "write_bool" if f.elem == "bool" else f"write_{PRIMITIVES[f.elem][0].lower()}"
        return f"{fn}({buf}, {value})"
    if f.kind == "string":
        return f"write_string({buf}, {value}, flexible, {what})?"
    if f.kind in ("bytes", "records"):
        return f"write_bytes({buf}, {value}, flexible, {what})?"
    return f"{value}.encode({buf}, version)?"


def write_field(f, buf):
    """Statements writing field f (as `self.<field>`) to `buf`."""
    what = json.dumps(f.what)
    null_cond = f.nullable.cond(f.valid)
    value = f"self.{f.rust}"
    if f.is_array:
        if f.kind == "prim":
            elem = write_one(f, "b", "*e") + ";\n            Ok(())"
            closure = f"|b, e| {{\n            {elem}\n        }}"
        elif f.kind == "struct":
            closure = "|b, e| e.encode(b, version)"
        elif f.kind == "string":
            closure = f"|b, e| write_string(b, e, flexible, {what})"
        else:
            closure = f"|b, e| write_bytes(b, e, flexible, {what})"
        if f.optional:
            arg = f"{value}.as_deref()"
            if null_cond != "true" and not f.nullable_everywhere():
                arg = f"check_some({arg}, {null_cond}, {what}, version)?"
            return f"write_nullable_array({buf}, {arg}, flexible, {what}, {closure})?;"
        return f"write_array({buf}, &{value}, flexible, {what}, {closure})?;"
    if f.optional:
        writer = {"string": "write_nullable_string", "bytes": "write_nullable_bytes", "records": "write_nullable_bytes"}[f.kind]
        arg = f"{value}.as_deref()"
        if null_cond != "true" and not f.nullable_everywhere():
            arg = f"check_some({arg}, {null_cond}, {what}, version)?"
        return f"{writer}({buf}, {arg}, flexible, {what})?;"
    if f.kind == "prim":
        return write_one(f, buf, value) + ";"
    if f.kind == "struct":
        return f"{value}.encode({buf}, version)?;"
    return write_one(f, buf, f"&{value}") + ";"


def absent_check(f, indent):
    """Kafka's rule: a field the version lacks may only be dropped at its default."""
    if f.ignorable:
        return ""
    return (f"{indent}if {'self.' + f.rust} != {f.default_expr()} {{\n"
            f"{indent}    return Err(EncodeError::FieldNotSupported {{ what: {json.dumps(f.what)}, version }});\n"
            f"{indent}}}\n")


def uses_flexible(s):
    """Whether the encoder and decoder read the `flexible` variable."""
    def present(f):
        return (f.tagged if f.tag is not None else f.versions).cond(s.valid) != "false"
    return any(present(f) and (f.kind in ("string", "bytes", "records") or f.is_array) for f in s.fields)


def records_len_term(f, with_records):
    """The Rust expression for the record bytes inside field `f`, or None."""
    if f.kind == "records":
        return f"self.{f.rust}.as_ref().map_or(0, Bytes::len)" if f.optional else f"self.{f.rust}.len()"
    if f.kind != "struct" or f.elem not in with_records:
        return None
    if f.is_array:
        total = ".iter().map(Encode::records_len).sum::<usize>()"
        if f.optional:
            return f"self.{f.rust}.as_deref().map_or(0, |v| v{total})"
        return f"self.{f.rust}{total}"
    if f.optional:
        return f"self.{f.rust}.as_ref().map_or(0, Encode::records_len)"
    return f"self.{f.rust}.records_len()"


def emit_records_len(s, with_records):
    terms = [t for t in (records_len_term(f, with_records) for f in s.fields) if t]
    if not terms:
        return ""
    return "\n    fn records_len(&self) -> usize {\n        " + "\n            + ".join(terms) + "\n    }\n"


def emit_struct(s, top, with_records=frozenset()):
    out = []
    valid = s.valid
    flex = s.flexible.cond(valid)
    has_tagged_section = flex != "false"
    out.append(doc(s.about, ""))
    out.append("#[derive(Debug, Clone, PartialEq)]\n")
    out.append(f"pub struct {s.name} {{\n")
    for f in s.fields:
        vers = f.spec.get("versions", "none")
        extra = f" Versions {vers}" + (f", nullable {f.spec['nullableVersions']}" if f.optional else "") + \
            (f", tagged ({f.tag}) {f.spec['taggedVersions']}" if f.tag is not None else "") + "."
        out.append(doc(f.about.rstrip() + extra, "    "))
        out.append(f"    pub {f.rust}: {f.rust_type()},\n")
    if has_tagged_section:
        out.append("    /// Tagged fields this codec does not know, kept so the struct re-encodes byte-identically.\n")
        out.append("    pub unknown_tagged_fields: Vec<RawTaggedField>,\n")
    out.append("}\n\n")

    out.append(f"impl Default for {s.name} {{\n    fn default() -> Self {{\n        Self {{\n")
    for f in s.fields:
        out.append(f"            {f.rust}: {f.default_expr()},\n")
    if has_tagged_section:
        out.append("            unknown_tagged_fields: Vec::new(),\n")
    out.append("        }\n    }\n}\n\n")

    version_guard_dec = version_guard_enc = ""
    if top:
        version_guard_dec = (f"        if !{s.name}::VERSIONS.contains(version) {{\n"
                             f"            return Err(DecodeError::UnsupportedVersion {{ what: {json.dumps(s.name)}, version }});\n        }}\n")
        version_guard_enc = version_guard_dec.replace("DecodeError", "EncodeError")
    flex_let = f"        let flexible = {flex};\n" if uses_flexible(s) else ""
    positional = [f for f in s.fields if f.tag is None]
    tagged = [f for f in s.fields if f.tag is not None]

    # Encode
    out.append(f"impl Encode for {s.name} {{\n")
    out.append("    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {\n")
    out.append(version_guard_enc + flex_let)
    for f in positional:
        cond = f.versions.cond(valid)
        check = absent_check(f, "            ")
        if cond == "true":
            out.append(f"        {write_field(f, 'buf')}\n")
        elif cond == "false":
            if check:
                out.append("        {\n" + check + "        }\n")
        else:
            out.append(f"        if {cond} {{\n            {write_field(f, 'buf')}\n        }}")
            out.append(" else " + check.strip().replace("\n            ", "\n        ") + "\n" if check else "\n")
    for f in tagged:
        cond = f.tagged.cond(valid)
        check = absent_check(f, "            ")
        if check and cond != "true":
            out.append(f"        if !({cond}) {{\n{check}        }}\n")
    if has_tagged_section:
        out.append(f"        if {flex} {{\n" if flex != "true" else "        {\n")
        out.append(f"            let {'mut ' if tagged else ''}tagged = SectionWriter::new();\n")
        for f in tagged:
            cond = and_cond(f.tagged.cond(valid), f"self.{f.rust} != {f.default_expr()}")
            body = write_field(f, "b").rstrip(";")
            out.append(f"            if {cond} {{\n                tagged.field({f.tag}, |b| {{\n                    {body};\n                    Ok(())\n                }})?;\n            }}\n")
        out.append(f"            tagged.finish(buf, &self.unknown_tagged_fields, {json.dumps(s.name)})?;\n        }}\n")
    out.append("        Ok(())\n    }\n")
    out.append(emit_records_len(s, with_records))
    out.append("}\n\n")

    # Decode
    out.append(f"impl Decode for {s.name} {{\n")
    out.append("    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {\n")
    out.append(version_guard_dec + flex_let)
    mut = "mut " if (positional or has_tagged_section) else ""
    out.append(f"        let {mut}this = Self::default();\n")
    for f in positional:
        cond = f.versions.cond(valid)
        if cond == "true":
            out.append(f"        this.{f.rust} = {read_field(f, 'buf')};\n")
        elif cond != "false":
            out.append(f"        if {cond} {{\n            this.{f.rust} = {read_field(f, 'buf')};\n        }}\n")
    if has_tagged_section:
        out.append(f"        if {flex} {{\n" if flex != "true" else "        {\n")
        if tagged:
            out.append(f"            this.unknown_tagged_fields = read_section(buf, {json.dumps(s.name)}, |tag, data| {{\n")
            out.append("                match tag {\n")
            for f in tagged:
                guard = f.tagged.cond(valid)
                guard = "" if guard == "true" else f" if {guard}"
                out.append(f"                    {f.tag}{guard} => {{\n                        this.{f.rust} = {read_field(f, 'data')};\n"
                           f"                        Ok(this.{f.rust} != {f.default_expr()})\n                    }}\n")
            out.append("                    _ => Ok(false),\n                }\n            })?;\n")
        else:
            out.append(f"            this.unknown_tagged_fields = read_section(buf, {json.dumps(s.name)}, |_, _| Ok(false))?;\n")
        out.append("        }\n")
    out.append("        Ok(this)\n    }\n}\n")
    return unused_version_param("".join(out))


def unused_version_param(code):
    """Renames `version` to `_version` in each fn whose body never reads it."""
    parts = re.split(r"(fn (?:encode|decode)\([^)]*\)[^{]*\{)", code)
    for i in range(1, len(parts), 2):
        body = parts[i + 1].split("\n    }\n", 1)[0]
        if not re.search(r"\bversion\b", body):
            parts[i] = parts[i].replace("version: i16", "_version: i16")
    return "".join(parts)


HEADER = "// Generated by codegen/generate_messages.py from Apache Kafka 3.8.0's {src}.\n// Do not edit: change the generator and run it again.\n\n"


def emit_message(msg):
    out = [HEADER.format(src=msg.name + ".json")]
    out.append(f"//! `{msg.name}`: versions {msg.valid.lo}-{msg.valid.hi}, flexible from "
               f"{'none' if msg.flexible.empty() else msg.flexible.lo}.\n\n")
    out.append("#![allow(clippy::all)]\n\n")
    out.append("#[allow(unused_imports)]\nuse bytes::{Bytes, BytesMut};\n\n")
    out.append("#[allow(unused_imports)]\nuse crate::protocol::{\n    codec::{check_null, check_some, Decode, Encode, Message, VersionRange},\n"
               "    error::{DecodeError, EncodeError},\n    primitives::*,\n    tagged::{read_section, RawTaggedField, SectionWriter},\n};\n\n")
    for i, s in enumerate(msg.structs):
        out.append(emit_struct(s, i == 0, msg.with_records))
        out.append("\n")
    top = msg.structs[0]
    flex_from = "None" if msg.flexible.empty() else f"Some({msg.flexible.lo})"
    out.append(f"impl Message for {top.name} {{\n    const NAME: &'static str = {json.dumps(top.name)};\n"
               f"    const VERSIONS: VersionRange = VersionRange::new({msg.valid.lo}, {msg.valid.hi});\n"
               f"    const FLEXIBLE_FROM: Option<i16> = {flex_from};\n}}\n")
    return "".join(out).replace("\n\n\n", "\n\n").rstrip("\n") + "\n"


# ---- test-only arbitrary values ---------------------------------------------------


def arb_one(f):
    if f.kind == "prim":
        return "u.arbitrary()"
    if f.kind == "string":
        return "u.string()"
    if f.kind in ("bytes", "records"):
        return "u.bytes()"
    return f"{f.elem}::arbitrary(u, version)"


def arb_field(f):
    one = arb_one(f)
    value = f"u.vec(|u| {one})" if f.is_array else one
    if f.optional:
        return f"u.nullable({f.nullable.cond(f.valid)}, |u| {value})"
    return value


def emit_arbitrary(msg):
    """The test-only section at the bottom of a message's file: random valid values of
    each struct for the roundtrip proptests (fields the version lacks stay at their
    defaults, nulls only where the version allows them, unknown tagged fields only in
    flexible versions)."""
    out = ["\n#[cfg(test)]\nmod arbitrary {\n    #![allow(unused_variables, clippy::all)]\n\n"
           "    use super::*;\n    use crate::protocol::test_utils::{Arbitrary, Unstructured};\n\n"]
    for s in msg.structs:
        out.append(f"impl Arbitrary for {s.name} {{\n    fn arbitrary(u: &mut Unstructured<'_>, version: i16) -> Self {{\n")
        out.append("        let mut this = Self::default();\n")
        for f in s.fields:
            cond = (f.tagged if f.tag is not None else f.versions).cond(s.valid)
            if cond == "false":
                continue
            line = f"this.{f.rust} = {arb_field(f)};"
            out.append(f"        {line}\n" if cond == "true" else f"        if {cond} {{\n            {line}\n        }}\n")
        flex = s.flexible.cond(s.valid)
        if flex != "false":
            out.append(f"        if {flex} {{\n            this.unknown_tagged_fields = u.unknown_tagged_fields();\n        }}\n")
        out.append("        this\n    }\n}\n\n")
    return "".join(out).rstrip("\n") + "\n}\n"


def emit_mod(messages):
    out = [HEADER.format(src="schemas")]
    out.append("//! Every request, response and data structure the codec speaks, one module per\n"
               "//! message. Top-level types are re-exported here; nested structures are reached\n"
               "//! through their module (`messages::produce_request::TopicProduceData`).\n\n")
    for m in messages:
        out.append(f"pub mod {m.module};\n")
    out.append("\n#[cfg(test)]\nmod tests;\n\n")
    for m in messages:
        out.append(f"pub use {m.module}::{m.name};\n")
    apis = [m for m in messages if m.kind == "request"]
    apis.sort(key=lambda m: m.api_key)
    out.append("\nuse super::api_key::ApiKey;\nuse super::codec::Request;\n\n")
    for m in apis:
        base = m.name.removesuffix("Request")
        out.append(f"impl Request for {m.name} {{\n    const API_KEY: ApiKey = ApiKey::{base};\n    type Response = {base}Response;\n}}\n\n")
    out.append("/// `(api key, name, oldest version, newest version, first flexible version)` for\n"
               "/// every API the codec implements; `ApiKey` is built from it.\n")
    out.append("pub(crate) const API_TABLE: &[(i16, &str, i16, i16, Option<i16>)] = &[\n")
    for m in apis:
        base = m.name.removesuffix("Request")
        flex = "None" if m.flexible.empty() else f"Some({m.flexible.lo})"
        out.append(f"    ({m.api_key}, {json.dumps(base)}, {m.valid.lo}, {m.valid.hi}, {flex}),\n")
    out.append("];\n")
    return "".join(out)


def emit_tests(messages):
    out = [HEADER.format(src="schemas")]
    out.append("//! One line per message: a roundtrip proptest over every version, and arbitrary\n"
               "//! or mutated bytes into its decoder at every version (never a panic).\n\n")
    out.append("use crate::protocol::test_utils::roundtrip_and_fuzz;\n\n")
    for m in messages:
        out.append(f"roundtrip_and_fuzz!({m.module}, crate::protocol::messages::{m.name});\n")
    return "".join(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    schema_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "kafka-protocol")
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "src", "protocol", "messages")
    names = [n + s for n in APIS for s in ("Request", "Response")] + DATA
    messages = [Message(os.path.join(schema_dir, n + ".json")) for n in names]
    os.makedirs(out_dir, exist_ok=True)
    files = {m.module + ".rs": emit_message(m) + emit_arbitrary(m) for m in messages}
    files["mod.rs"] = emit_mod(messages)
    files["tests.rs"] = emit_tests(messages)
    paths = []
    for name, text in files.items():
        path = os.path.join(out_dir, name)
        with open(path, "w") as fh:
            fh.write(text)
        paths.append(path)
    # Format with the crate's rustfmt.toml so `cargo fmt --check` passes on the output.
    subprocess.run(["rustfmt", "--edition", "2021", "--config-path", os.path.join(root, "rustfmt.toml"), *paths], check=True)
    print(f"wrote {len(files)} files to {out_dir}")


if __name__ == "__main__":
    main()
