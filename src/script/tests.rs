//! Engine tests with a fake host: conversions both ways, the `redis` API,
//! the sandbox, error replies.

use super::*;
use crate::resp::reply::Protocol;

/// Answers every command with a canned reply, records what it was asked.
#[derive(Default)]
struct Fake {
    replies: Vec<Result<Vec<u8>, String>>,
    seen: Vec<Vec<String>>,
    resp: Vec<u8>,
}

impl Host for Fake {
    fn call(
        &mut self,
        argv: &Argv<'_>,
        resp: u8,
        _repl: u8,
        out: &mut Reply,
    ) -> Result<(), String> {
        self.seen.push(
            argv.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        );
        self.resp.push(resp);
        let reply = if self.replies.is_empty() {
            Ok(b"+OK\r\n".to_vec())
        } else {
            self.replies.remove(0)
        };
        out.raw(&reply?);
        Ok(())
    }
}

fn eval_with(e: &mut Engine, host: &mut Fake, body: &str, proto: Protocol) -> String {
    let sha = match e.load(body.as_bytes()) {
        Ok(sha) => sha,
        Err(line) => return format!("-{line}\r\n"),
    };
    let mut out = Reply::new(proto);
    if let Err(err) = e.run(
        e.find(sha.as_bytes()).expect("cached"),
        &[b"k1"],
        &[b"a1", b"a2"],
        host,
        &mut out,
    ) {
        out.error(&err.line);
    }
    String::from_utf8_lossy(&out.buf).into_owned()
}

fn eval(body: &str) -> String {
    let mut e = Engine::new(Default::default()).expect("engine");
    eval_with(&mut e, &mut Fake::default(), body, Protocol::Resp2)
}

#[test]
fn lua_values_to_replies() {
    assert_eq!(eval("return 'x'"), "$1\r\nx\r\n");
    assert_eq!(eval("return 3.99"), ":3\r\n");
    assert_eq!(eval("return -3.99"), ":-3\r\n");
    assert_eq!(eval("return 1.9e20"), ":-9223372036854775808\r\n");
    assert_eq!(eval("return 0/0"), ":-9223372036854775808\r\n");
    assert_eq!(eval("return true"), ":1\r\n");
    assert_eq!(eval("return false"), "$-1\r\n");
    assert_eq!(eval("return nil"), "$-1\r\n");
    assert_eq!(
        eval("return {1,2,3,'x',nil,4}"),
        "*4\r\n:1\r\n:2\r\n:3\r\n$1\r\nx\r\n"
    );
    assert_eq!(eval("return {err='My Error'}"), "-My Error\r\n");
    assert_eq!(
        eval("return redis.error_reply('My Error')"),
        "-My Error\r\n"
    );
    assert_eq!(eval("return redis.error_reply('-X y')"), "-X y\r\n");
    assert_eq!(eval("return redis.status_reply('FINE')"), "+FINE\r\n");
    assert_eq!(eval("return {ok='a\\r\\nb'}"), "+a  b\r\n");
    assert_eq!(eval("return KEYS"), "*1\r\n$2\r\nk1\r\n");
    assert_eq!(eval("return ARGV[2]"), "$2\r\na2\r\n");
    assert_eq!(eval("return {double=3.5}"), "$3\r\n3.5\r\n");
    assert_eq!(eval("return _G"), "*0\r\n");
}

#[test]
fn resp3_values() {
    let mut e = Engine::new(Default::default()).expect("engine");
    let mut h = Fake::default();
    let r = eval_with(
        &mut e,
        &mut h,
        "redis.setresp(3) return true",
        Protocol::Resp3,
    );
    assert_eq!(r, "#t\r\n");
    let r = eval_with(&mut e, &mut h, "return {map={a=1}}", Protocol::Resp3);
    assert_eq!(r, "%1\r\n$1\r\na\r\n:1\r\n");
    let r = eval_with(&mut e, &mut h, "return {map={a=1}}", Protocol::Resp2);
    assert_eq!(r, "*2\r\n$1\r\na\r\n:1\r\n");
    let r = eval_with(&mut e, &mut h, "return {set={a=true}}", Protocol::Resp3);
    assert_eq!(r, "~1\r\n$1\r\na\r\n");
    let r = eval_with(&mut e, &mut h, "return {double=1.5}", Protocol::Resp3);
    assert_eq!(r, ",1.5\r\n");
    let r = eval_with(&mut e, &mut h, "return {big_number='123'}", Protocol::Resp3);
    assert_eq!(r, "(123\r\n");
    let r = eval_with(
        &mut e,
        &mut h,
        "return {verbatim_string={format='txt', string='hi'}}",
        Protocol::Resp3,
    );
    assert_eq!(r, "=6\r\ntxt:hi\r\n");
    let r = eval_with(&mut e, &mut h, "return false", Protocol::Resp3);
    assert_eq!(r, "_\r\n");
}

#[test]
fn replies_to_lua_values() {
    let mut e = Engine::new(Default::default()).expect("engine");
    let mut h = Fake {
        replies: vec![
            Ok(b"*3\r\n:1\r\n$-1\r\n$2\r\nab\r\n".to_vec()),
            Ok(b"*-1\r\n".to_vec()),
            Ok(b"%1\r\n+k\r\n,2.5\r\n".to_vec()),
            Ok(b"~1\r\n#t\r\n".to_vec()),
            Ok(b"_\r\n".to_vec()),
            Ok(b"(12345678901234567890\r\n".to_vec()),
            Ok(b"=7\r\ntxt:abc\r\n".to_vec()),
            Ok(b"|1\r\n+a\r\n+b\r\n:7\r\n".to_vec()),
        ],
        ..Default::default()
    };
    let body = "local a = redis.call('x')
        local b = redis.call('x')
        local c = redis.call('x')
        local d = redis.call('x')
        local e = redis.call('x')
        local f = redis.call('x')
        local g = redis.call('x')
        local h = redis.call('x')
        local k = next(c.map)
        return {a[1], type(a[2]), a[3], type(b), k.ok, c.map[k].double * 2,
                type(next(d.set)), type(e), f.big_number, g.verbatim_string.format,
                g.verbatim_string.string, h}";
    let r = eval_with(&mut e, &mut h, body, Protocol::Resp2);
    assert_eq!(
        r,
        "*12\r\n:1\r\n$7\r\nboolean\r\n$2\r\nab\r\n$7\r\nboolean\r\n$1\r\nk\r\n:5\r\n\
         $7\r\nboolean\r\n$3\r\nnil\r\n$20\r\n12345678901234567890\r\n$3\r\ntxt\r\n$3\r\nabc\r\n:7\r\n"
    );
}

#[test]
fn call_arguments_and_errors() {
    let mut e = Engine::new(Default::default()).expect("engine");
    let mut h = Fake {
        replies: vec![Err("Unknown Redis command called from script".into())],
        ..Default::default()
    };
    let r = eval_with(
        &mut e,
        &mut h,
        "return redis.call('nosuch')",
        Protocol::Resp2,
    );
    assert!(
        r.starts_with("-ERR Unknown Redis command called from script script: "),
        "{r}"
    );
    assert!(r.ends_with(", on @user_script:1.\r\n"), "{r}");
    h.replies = vec![Ok(b"-WRONGTYPE bad\r\n".to_vec())];
    let r = eval_with(&mut e, &mut h, "return redis.pcall('x')", Protocol::Resp2);
    assert_eq!(r, "-WRONGTYPE bad\r\n");
    h.replies = vec![Ok(b"-WRONGTYPE bad\r\n".to_vec())];
    let r = eval_with(
        &mut e,
        &mut h,
        "local ok, e = pcall(redis.call, 'x') return {tostring(ok), e}",
        Protocol::Resp2,
    );
    assert_eq!(r, "*2\r\n$5\r\nfalse\r\n$13\r\nWRONGTYPE bad\r\n");
    let r = eval_with(
        &mut e,
        &mut h,
        "return redis.call('set', 1.5, 10, 'x')",
        Protocol::Resp2,
    );
    assert_eq!(r, "+OK\r\n");
    assert_eq!(h.seen.last().expect("call"), &["set", "1.5", "10", "x"]);
    // Numbers pass as `%.17g`, whole ones too (the integer fast path).
    eval_with(
        &mut e,
        &mut h,
        "return redis.call('x', 0, -7, 0.1, 2^53, 1e17, 1/0, 123456789012345)",
        Protocol::Resp2,
    );
    assert_eq!(
        h.seen.last().expect("call"),
        &[
            "x",
            "0",
            "-7",
            "0.10000000000000001",
            "9007199254740992",
            "1e+17",
            "inf",
            "123456789012345"
        ]
    );
    // A call with 7999 arguments (Lua's C stack holds 8000) still gets its reply.
    h.replies = vec![Ok(b":7999\r\n".to_vec())];
    let r = eval_with(
        &mut e,
        &mut h,
        "local a = {} for i = 1, 7999 do a[i] = 1 end return redis.call('lpush', 'l', unpack(a))",
        Protocol::Resp2,
    );
    assert_eq!(r, ":7999\r\n");
    assert_eq!(h.seen.last().map(|a| a.len()), Some(8001));
    // (Apart: Lua 5.1 merges the constants 0 and -0 of one chunk.)
    eval_with(
        &mut e,
        &mut h,
        "return redis.call('x', -0.0)",
        Protocol::Resp2,
    );
    assert_eq!(h.seen.last().expect("call"), &["x", "-0"]);
    let r = eval_with(
        &mut e,
        &mut h,
        "return redis.call('set', {})",
        Protocol::Resp2,
    );
    assert!(
        r.starts_with("-ERR Lua redis lib command arguments must be strings or integers"),
        "{r}"
    );
    let r = eval_with(&mut e, &mut h, "return redis.call()", Protocol::Resp2);
    assert!(
        r.starts_with("-ERR Please specify at least one argument"),
        "{r}"
    );
    let r = eval_with(
        &mut e,
        &mut h,
        "redis.setresp(3) return redis.call('x')",
        Protocol::Resp2,
    );
    assert_eq!(r, "+OK\r\n");
    assert_eq!(h.resp.last(), Some(&3));
    let r = eval_with(&mut e, &mut h, "error('boom')", Protocol::Resp2);
    assert!(r.starts_with("-ERR user_script:1: boom script: "), "{r}");
    let r = eval_with(&mut e, &mut h, "error({err='X custom'})", Protocol::Resp2);
    assert!(r.starts_with("-X custom script: "), "{r}");
    let r = eval_with(&mut e, &mut h, "return redis.setresp(4)", Protocol::Resp2);
    assert!(r.starts_with("-ERR RESP version must be 2 or 3."), "{r}");
    let r = eval_with(&mut e, &mut h, "return redis.set_repl(99)", Protocol::Resp2);
    assert!(r.starts_with("-ERR Invalid replication flags."), "{r}");
    let r = eval_with(&mut e, &mut h, "return 'unterminated", Protocol::Resp2);
    assert!(
        r.starts_with(
            "-ERR Error compiling script (new function): user_script:1: unfinished string"
        ),
        "{r}"
    );
}

#[test]
fn api_helpers() {
    assert_eq!(
        eval("return redis.sha1hex('Pizza & Mandolino')"),
        "$40\r\n74822d82031af7493c20eefa13bd07ec4fada82f\r\n"
    );
    assert_eq!(eval("return redis.replicate_commands()"), ":1\r\n");
    assert_eq!(eval("return redis.breakpoint()"), "$-1\r\n");
    assert_eq!(eval("return redis.REDIS_VERSION"), "$6\r\n7.0.15\r\n");
    assert_eq!(eval("return redis.REDIS_VERSION_NUM"), ":458767\r\n");
    assert_eq!(eval("return redis.REPL_ALL + redis.LOG_WARNING"), ":6\r\n");
    assert_eq!(
        eval("redis.log(redis.LOG_WARNING, 'hello') return 1"),
        ":1\r\n"
    );
    assert!(eval("redis.log(99, 'x')").starts_with("-ERR Invalid debug level."));
    assert_eq!(
        eval("return bit.tohex(65535, -2147483648)"),
        "$8\r\n0000FFFF\r\n"
    );
    assert_eq!(eval("return bit.bor(1,2,4,8,16,32,64,128)"), ":255\r\n");
}

#[test]
fn sandbox() {
    let r = eval("return a");
    assert!(
        r.starts_with("-ERR user_script:1: Script attempted to access nonexistent global variable 'a' script: "),
        "{r}"
    );
    for body in [
        "a = 10",
        "redis = function() return 1 end",
        "_G = {}",
        "redis.call = function() return 1 end",
        "cjson.encode = 1",
        "bit.lshift = 1",
        "setmetatable(_G, {})",
        "local g = getmetatable(_G) g.__index = {}",
        "rawset(_G, 'x', 1)",
        "getmetatable('').__index = function() return 1 end",
        "string.rep = nil",
    ] {
        let r = eval(body);
        assert!(
            r.contains("Attempt to modify a readonly table"),
            "{body}: {r}"
        );
    }
    for name in [
        "loadfile", "dofile", "print", "os", "io", "require", "setfenv", "getfenv", "newproxy",
        "debug",
    ] {
        let r = eval(&format!("return {name}"));
        assert!(
            r.contains(&format!("nonexistent global variable '{name}'")),
            "{name}: {r}"
        );
    }
    assert!(
        eval("return loadstring(string.dump(function() return 1 end))()")
            .contains("attempt to call a nil value")
    );
    assert_eq!(eval("return loadstring('return 7')()"), ":7\r\n");
    assert_eq!(eval("return ('ab'):upper()"), "$2\r\nAB\r\n");
    assert_eq!(
        eval("local n = 0 for k in pairs(string) do n = n + 1 end return n"),
        ":15\r\n"
    );
    assert_eq!(eval("return type(next(redis))"), "$6\r\nstring\r\n");
    assert_eq!(
        eval("local n = 0 for k in pairs({1, 2}) do n = n + 1 end return n"),
        ":2\r\n"
    );
    assert_eq!(
        eval("local t = {} table.insert(t, 5) return t[1]"),
        ":5\r\n"
    );
    assert_eq!(eval("return pcall(function() error('x') end)"), "$-1\r\n");
    for range in ["-2, 2147483647", "0, 2147483647", "-2147483648, -2"] {
        let r = eval(&format!("return {{unpack({{1,2,3}}, {range})}}"));
        assert!(r.contains("too many results to unpack"), "{range}: {r}");
    }
    assert_eq!(eval("return {unpack({1,2,3}, 2)}"), "*2\r\n:2\r\n:3\r\n");
    assert_eq!(eval("return {unpack({1,2,3}, 1, -1)}"), "*0\r\n");
}

#[test]
fn cjson() {
    assert_eq!(
        eval("return cjson.encode({1,2,'a/b',{x=true}})"),
        "$23\r\n[1,2,\"a\\/b\",{\"x\":true}]\r\n"
    );
    assert_eq!(eval("return cjson.encode({})"), "$2\r\n{}\r\n");
    assert_eq!(eval("return cjson.encode(0.1)"), "$3\r\n0.1\r\n");
    assert_eq!(
        eval("return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')"),
        "$26\r\n0 -5000 -1 0.0003 1023.2 0\r\n"
    );
    assert_eq!(
        eval("local d = cjson.decode('{\"a\": [1, null, \"\\\\u00e9\"]}') return {d.a[1], tostring(d.a[2] == cjson.null), d.a[3]}"),
        "*3\r\n:1\r\n$4\r\ntrue\r\n$2\r\n\u{e9}\r\n"
    );
    assert!(eval("return cjson.decode('[1,')").contains("Expected value but found"));
    assert!(eval("local t = {} t[false] = 1 return cjson.encode(t)").contains("Cannot serialise"));
}

#[test]
fn flush_forgets_scripts() {
    let mut e = Engine::new(Default::default()).expect("engine");
    let sha = e.load(b"return 1").expect("load");
    assert!(e.exists(sha.to_uppercase().as_bytes()));
    e.flush().expect("flush");
    assert!(!e.exists(sha.as_bytes()));
}

/// Hex of what a script returns (a packed string).
fn hex_of(body: &str) -> String {
    eval(&format!(
        "local e = {body} local h = '' for i = 1, #e do h = h .. string.format('%02x', string.byte(e, i)) end return h"
    ))
}

#[test]
fn cmsgpack() {
    assert!(hex_of("cmsgpack.pack(0.1)").contains("cb3fb999999999999a"));
    assert!(hex_of("cmsgpack.pack(-1099511627776)").contains("d3ffffff0000000000"));
    assert!(hex_of("cmsgpack.pack(1, -1, 'ab', {1,2}, true, nil)")
        .contains("01ffa2616292010 2c3c0".replace(' ', "").as_str()));
    assert_eq!(
        eval("local t = cmsgpack.unpack(cmsgpack.pack({a=1, b={1,2,3}, c='x'})) return {t.a, t.b[3], t.c}"),
        "*3\r\n:1\r\n:3\r\n$1\r\nx\r\n"
    );
    assert_eq!(
        eval("local s = cmsgpack.pack('a', 'bb', 'ccc') local o, v = cmsgpack.unpack_limit(s, 1, 0) local o2, v2 = cmsgpack.unpack_limit(s, 1, o) local o3, v3 = cmsgpack.unpack_limit(s, 1, o2) return {o, v, o2, v2, o3, v3}"),
        "*6\r\n:2\r\n$1\r\na\r\n:5\r\n$2\r\nbb\r\n:-1\r\n$3\r\nccc\r\n"
    );
    // Circular references are packed to a depth of 16.
    let h = hex_of("(function() local a = {x=nil,y=5} local b = {x=a} a['x'] = b return cmsgpack.pack(a) end)()");
    assert!(h.contains("82a17905a17881a17882a17905"), "{h}");
    assert!(h.ends_with("a178c0\r\n"), "{h}");
}

#[test]
fn struct_library() {
    assert!(hex_of("struct.pack('>I2', 258)").contains("0102"));
    assert!(hex_of("struct.pack('<i', -2)").contains("feffffff"));
    assert!(hex_of("struct.pack('>bs', 1, 'ab')").contains("01616200"));
    assert!(hex_of("struct.pack('!4 b i', 1, 2)").contains("0100000002000000"));
    assert_eq!(
        eval(
            "return {struct.unpack('>I2 b c2 s', struct.pack('>I2 b c2 s', 513, -3, 'xy', 'zz'))}"
        ),
        "*5\r\n:513\r\n:-3\r\n$2\r\nxy\r\n$2\r\nzz\r\n:9\r\n"
    );
    assert_eq!(eval("return struct.size('>iId')"), ":16\r\n");
    assert_eq!(
        eval("return {struct.unpack('<d', struct.pack('<d', 1.5))}"),
        "*2\r\n:1\r\n:9\r\n"
    );
    assert!(eval("return struct.unpack('>I4', 'ab')").contains("data string too short"));
    assert!(eval("return struct.pack('q', 1)").contains("invalid format option 'q'"));
}
