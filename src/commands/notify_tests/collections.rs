//! Keyspace events of the collection commands (lists, hashes, sets, sorted
//! sets, geo, bitmaps, HyperLogLog, SORT … STORE) and of transactions.

use super::*;

#[test]
fn list_events() {
    check(&[
        (&[], &[&["LPUSH", "l", "a", "b", "c"]], &[("lpush", "l")]),
        (&[], &[&["RPUSH", "l", "a", "b"]], &[("rpush", "l")]),
        (&[], &[&["LPUSHX", "l", "a"], &["RPUSHX", "l", "a"]], &[]),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["LPUSHX", "l", "b"], &["RPUSHX", "l", "c"]],
            &[("lpush", "l"), ("rpush", "l")],
        ),
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["LPOP", "l"]],
            &[("lpop", "l")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["RPOP", "l"]],
            &[("rpop", "l"), ("del", "l")],
        ),
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["LPOP", "l", "5"]],
            &[("lpop", "l"), ("del", "l")],
        ),
        (&[&["RPUSH", "l", "a"]], &[&["LPOP", "l", "0"]], &[]),
        (&[], &[&["LPOP", "l"]], &[]),
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["LMPOP", "2", "nol", "l", "RIGHT", "COUNT", "1"]],
            &[("rpop", "l")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["LSET", "l", "0", "b"]],
            &[("lset", "l")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["LINSERT", "l", "BEFORE", "a", "b"]],
            &[("linsert", "l")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["LINSERT", "l", "BEFORE", "x", "b"]],
            &[],
        ),
        (
            &[&["RPUSH", "l", "a", "b", "a"]],
            &[&["LREM", "l", "1", "a"]],
            &[("lrem", "l")],
        ),
        (
            &[&["RPUSH", "l", "a", "a"]],
            &[&["LREM", "l", "0", "a"]],
            &[("lrem", "l"), ("del", "l")],
        ),
        (&[&["RPUSH", "l", "a"]], &[&["LREM", "l", "0", "x"]], &[]),
        (
            &[&["RPUSH", "l", "a", "b", "c"]],
            &[&["LTRIM", "l", "0", "1"]],
            &[("ltrim", "l")],
        ),
        // As Redis: `ltrim` on an existing list even when nothing went.
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["LTRIM", "l", "0", "-1"]],
            &[("ltrim", "l")],
        ),
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["LTRIM", "l", "5", "10"]],
            &[("ltrim", "l"), ("del", "l")],
        ),
        (&[], &[&["LTRIM", "l", "0", "1"]], &[]),
    ]);
}

#[test]
fn list_move_and_blocking_pop_events() {
    check(&[
        // LMOVE: the push on the destination first, then the pop.
        (
            &[&["RPUSH", "s", "a", "b"]],
            &[&["LMOVE", "s", "d", "LEFT", "RIGHT"]],
            &[("rpush", "d"), ("lpop", "s")],
        ),
        (
            &[&["RPUSH", "s", "a"]],
            &[&["RPOPLPUSH", "s", "d"]],
            &[("lpush", "d"), ("rpop", "s"), ("del", "s")],
        ),
        // A rotation of a one-element list leaves it there: no `del`.
        (
            &[&["RPUSH", "s", "a"]],
            &[&["LMOVE", "s", "s", "RIGHT", "LEFT"]],
            &[("lpush", "s"), ("rpop", "s")],
        ),
        (&[], &[&["LMOVE", "s", "d", "LEFT", "LEFT"]], &[]),
        // The blocking forms, served at once, publish what the others do.
        (
            &[&["RPUSH", "l", "a"]],
            &[&["BLPOP", "nol", "l", "0"]],
            &[("lpop", "l"), ("del", "l")],
        ),
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["BRPOP", "l", "0"]],
            &[("rpop", "l")],
        ),
        (
            &[&["RPUSH", "s", "a"]],
            &[&["BLMOVE", "s", "d", "RIGHT", "LEFT", "0"]],
            &[("lpush", "d"), ("rpop", "s"), ("del", "s")],
        ),
        (
            &[&["RPUSH", "s", "a", "b"]],
            &[&["BRPOPLPUSH", "s", "d", "0"]],
            &[("lpush", "d"), ("rpop", "s")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "3"]],
            &[("lpop", "l"), ("del", "l")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[
                &["LRANGE", "l", "0", "-1"],
                &["LLEN", "l"],
                &["LINDEX", "l", "0"],
            ],
            &[],
        ),
    ]);
}

#[test]
fn served_blocked_pops_publish_like_the_plain_ones() {
    let mut l = Listened::new("KEA");
    // A second client blocks on `q`; the kit's own client pushes.
    let waiter = client_info(3);
    l.kit.srv.clients.add(waiter.clone());
    let mut blocked = crate::commands::Client::new(waiter, true);
    std::mem::swap(&mut l.kit.client, &mut blocked);
    assert_eq!(l.kit.run(&["BLPOP", "q", "0"]), "");
    std::mem::swap(&mut l.kit.client, &mut blocked);
    assert!(blocked.blocked.is_some(), "BLPOP blocked");
    l.run(&["RPUSH", "q", "x"]);
    assert_eq!(
        l.published(),
        expand(0, &[("rpush", "q"), ("lpop", "q"), ("del", "q")])
    );
    // BLMOVE served later: push on the destination, then the pop.
    std::mem::swap(&mut l.kit.client, &mut blocked);
    blocked.blocked = None;
    assert_eq!(l.kit.run(&["BLMOVE", "q", "d", "LEFT", "RIGHT", "0"]), "");
    std::mem::swap(&mut l.kit.client, &mut blocked);
    l.run(&["LPUSH", "q", "a", "b"]);
    assert_eq!(
        l.published(),
        expand(0, &[("lpush", "q"), ("rpush", "d"), ("lpop", "q")])
    );
    // BZPOPMIN likewise.
    std::mem::swap(&mut l.kit.client, &mut blocked);
    blocked.blocked = None;
    assert_eq!(l.kit.run(&["BZPOPMIN", "z", "0"]), "");
    std::mem::swap(&mut l.kit.client, &mut blocked);
    l.run(&["ZADD", "z", "1", "m"]);
    assert_eq!(
        l.published(),
        expand(0, &[("zadd", "z"), ("zpopmin", "z"), ("del", "z")])
    );
}

#[test]
fn hash_events() {
    check(&[
        (&[], &[&["HSET", "h", "a", "1", "b", "2"]], &[("hset", "h")]),
        // HSET publishes even when no field changed, as Redis's does.
        (
            &[&["HSET", "h", "a", "1"]],
            &[&["HSET", "h", "a", "1"]],
            &[("hset", "h")],
        ),
        (&[], &[&["HMSET", "h", "a", "1"]], &[("hset", "h")]),
        (&[], &[&["HSETNX", "h", "a", "1"]], &[("hset", "h")]),
        (
            &[&["HSET", "h", "a", "1"]],
            &[&["HSETNX", "h", "a", "2"]],
            &[],
        ),
        (
            &[&["HSET", "h", "a", "1", "b", "2"]],
            &[&["HDEL", "h", "a", "x"]],
            &[("hdel", "h")],
        ),
        (
            &[&["HSET", "h", "a", "1"]],
            &[&["HDEL", "h", "a", "b"]],
            &[("hdel", "h"), ("del", "h")],
        ),
        (&[&["HSET", "h", "a", "1"]], &[&["HDEL", "h", "x"]], &[]),
        (&[], &[&["HDEL", "h", "x"]], &[]),
        (&[], &[&["HINCRBY", "h", "n", "10"]], &[("hincrby", "h")]),
        (
            &[],
            &[&["HINCRBYFLOAT", "h", "f", "1.5"]],
            &[("hincrbyfloat", "h")],
        ),
        (
            &[&["HSET", "h", "a", "1"]],
            &[&["HGET", "h", "a"], &["HGETALL", "h"], &["HLEN", "h"]],
            &[],
        ),
    ]);
}

#[test]
fn set_events() {
    check(&[
        (&[], &[&["SADD", "s", "a", "b"]], &[("sadd", "s")]),
        (&[&["SADD", "s", "a"]], &[&["SADD", "s", "a"]], &[]),
        (
            &[&["SADD", "s", "a", "b"]],
            &[&["SREM", "s", "a", "x"]],
            &[("srem", "s")],
        ),
        (
            &[&["SADD", "s", "a"]],
            &[&["SREM", "s", "a", "b"]],
            &[("srem", "s"), ("del", "s")],
        ),
        (&[&["SADD", "s", "a"]], &[&["SREM", "s", "x"]], &[]),
        (&[], &[&["SREM", "s", "x"]], &[]),
        (
            &[&["SADD", "s", "a", "b"]],
            &[&["SPOP", "s"]],
            &[("spop", "s")],
        ),
        (
            &[&["SADD", "s", "a"]],
            &[&["SPOP", "s"]],
            &[("spop", "s"), ("del", "s")],
        ),
        (
            &[&["SADD", "s", "a", "b", "c"]],
            &[&["SPOP", "s", "2"]],
            &[("spop", "s")],
        ),
        (
            &[&["SADD", "s", "a", "b"]],
            &[&["SPOP", "s", "2"]],
            &[("spop", "s"), ("del", "s")],
        ),
        (&[&["SADD", "s", "a"]], &[&["SPOP", "s", "0"]], &[]),
        (&[], &[&["SPOP", "s"], &["SPOP", "s", "3"]], &[]),
        (
            &[&["SADD", "s", "a", "b"]],
            &[&["SMOVE", "s", "d", "a"]],
            &[("srem", "s"), ("sadd", "d")],
        ),
        (
            &[&["SADD", "s", "a"], &["SADD", "d", "a"]],
            &[&["SMOVE", "s", "d", "a"]],
            &[("srem", "s"), ("del", "s")],
        ),
        (&[&["SADD", "s", "a"]], &[&["SMOVE", "s", "d", "x"]], &[]),
        (&[&["SADD", "s", "a"]], &[&["SMOVE", "s", "s", "a"]], &[]),
        (
            &[&["SADD", "a", "1", "2"], &["SADD", "b", "2", "3"]],
            &[
                &["SINTERSTORE", "i", "a", "b"],
                &["SUNIONSTORE", "u", "a", "b"],
                &["SDIFFSTORE", "d", "a", "b"],
            ],
            &[
                ("sinterstore", "i"),
                ("sunionstore", "u"),
                ("sdiffstore", "d"),
            ],
        ),
        // An empty result deletes the destination: `del`, if there was one.
        (
            &[&["SADD", "a", "1"], &["SET", "i", "x"]],
            &[
                &["SINTERSTORE", "i", "a", "none"],
                &["SDIFFSTORE", "i", "a", "a"],
            ],
            &[("del", "i")],
        ),
        (
            &[&["SADD", "s", "a"]],
            &[
                &["SMEMBERS", "s"],
                &["SISMEMBER", "s", "a"],
                &["SINTER", "s", "s"],
            ],
            &[],
        ),
    ]);
}

#[test]
fn sorted_set_events() {
    check(&[
        (&[], &[&["ZADD", "z", "1", "a", "2", "b"]], &[("zadd", "z")]),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[&["ZADD", "z", "1", "a"]],
            &[],
        ),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[&["ZADD", "z", "2", "a"]],
            &[("zadd", "z")],
        ),
        (&[], &[&["ZADD", "z", "XX", "1", "a"]], &[]),
        (&[], &[&["ZADD", "z", "INCR", "1", "a"]], &[("zincr", "z")]),
        (&[], &[&["ZINCRBY", "z", "1", "a"]], &[("zincr", "z")]),
        (
            &[&["ZADD", "z", "1", "a", "2", "b"]],
            &[&["ZREM", "z", "a", "x"]],
            &[("zrem", "z")],
        ),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[&["ZREM", "z", "a"]],
            &[("zrem", "z"), ("del", "z")],
        ),
        (&[&["ZADD", "z", "1", "a"]], &[&["ZREM", "z", "x"]], &[]),
        (
            &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"]],
            &[
                &["ZREMRANGEBYRANK", "z", "0", "0"],
                &["ZREMRANGEBYSCORE", "z", "2", "2"],
                &["ZREMRANGEBYLEX", "z", "[c", "[c"],
            ],
            &[
                ("zremrangebyrank", "z"),
                ("zremrangebyscore", "z"),
                ("zremrangebylex", "z"),
                ("del", "z"),
            ],
        ),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[&["ZREMRANGEBYSCORE", "z", "5", "9"]],
            &[],
        ),
        (
            &[&["ZADD", "z", "1", "a", "2", "b"]],
            &[&["ZPOPMIN", "z"]],
            &[("zpopmin", "z")],
        ),
        (
            &[&["ZADD", "z", "1", "a", "2", "b"]],
            &[&["ZPOPMAX", "z", "5"]],
            &[("zpopmax", "z"), ("del", "z")],
        ),
        (&[&["ZADD", "z", "1", "a"]], &[&["ZPOPMIN", "z", "0"]], &[]),
        (&[], &[&["ZPOPMIN", "z"]], &[]),
        (
            &[&["ZADD", "z", "1", "a", "2", "b"]],
            &[&["ZMPOP", "2", "none", "z", "MAX"]],
            &[("zpopmax", "z")],
        ),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[&["BZPOPMIN", "z", "0"]],
            &[("zpopmin", "z"), ("del", "z")],
        ),
        (
            &[&["ZADD", "z", "1", "a", "2", "b"]],
            &[&["BZMPOP", "0", "1", "z", "MIN", "COUNT", "1"]],
            &[("zpopmin", "z")],
        ),
        (
            &[&["ZADD", "a", "1", "x", "2", "y"], &["ZADD", "b", "1", "y"]],
            &[
                &["ZUNIONSTORE", "u", "2", "a", "b"],
                &["ZINTERSTORE", "i", "2", "a", "b"],
                &["ZDIFFSTORE", "d", "2", "a", "b"],
                &["ZRANGESTORE", "r", "a", "0", "-1"],
            ],
            &[
                ("zunionstore", "u"),
                ("zinterstore", "i"),
                ("zdiffstore", "d"),
                ("zrangestore", "r"),
            ],
        ),
        (
            &[
                &["ZADD", "a", "1", "x"],
                &["SET", "d", "v"],
                &["SET", "r", "v"],
            ],
            &[
                &["ZINTERSTORE", "d", "2", "a", "none"],
                &["ZINTERSTORE", "d", "2", "a", "none"],
                &["ZRANGESTORE", "r", "a", "5", "9"],
            ],
            &[("del", "d"), ("del", "r")],
        ),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[
                &["ZRANGE", "z", "0", "-1"],
                &["ZSCORE", "z", "a"],
                &["ZCARD", "z"],
            ],
            &[],
        ),
    ]);
}

#[test]
fn geo_events() {
    check(&[
        // GEOADD runs as ZADD: `zadd`.
        (
            &[],
            &[&["GEOADD", "g", "13.361389", "38.115556", "p"]],
            &[("zadd", "g")],
        ),
        (
            &[&["GEOADD", "g", "13.361389", "38.115556", "p"]],
            &[&["GEOADD", "g", "NX", "13.361389", "38.115556", "p"]],
            &[],
        ),
        (
            &[&["GEOADD", "g", "13.361389", "38.115556", "p"]],
            &[
                &["GEORADIUS", "g", "13", "38", "200", "km", "STORE", "r"],
                &["GEORADIUSBYMEMBER", "g", "p", "10", "km", "STOREDIST", "m"],
                &[
                    "GEOSEARCHSTORE",
                    "s",
                    "g",
                    "FROMLONLAT",
                    "13",
                    "38",
                    "BYRADIUS",
                    "200",
                    "km",
                ],
            ],
            &[
                ("georadiusstore", "r"),
                ("georadiusstore", "m"),
                ("geosearchstore", "s"),
            ],
        ),
        // Nothing found, or no source: the destination is deleted.
        (
            &[
                &["GEOADD", "g", "13.361389", "38.115556", "p"],
                &["SET", "r", "v"],
                &["SET", "s", "v"],
            ],
            &[
                &["GEORADIUS", "g", "-100", "-40", "1", "km", "STORE", "r"],
                &[
                    "GEOSEARCHSTORE",
                    "s",
                    "none",
                    "FROMLONLAT",
                    "0",
                    "0",
                    "BYRADIUS",
                    "1",
                    "km",
                ],
                &[
                    "GEOSEARCHSTORE",
                    "s",
                    "none",
                    "FROMLONLAT",
                    "0",
                    "0",
                    "BYRADIUS",
                    "1",
                    "km",
                ],
            ],
            &[("del", "r"), ("del", "s")],
        ),
    ]);
}

#[test]
fn bitmap_and_hyperloglog_events() {
    check(&[
        (&[], &[&["SETBIT", "b", "7", "1"]], &[("setbit", "b")]),
        (
            &[&["SETBIT", "b", "7", "1"]],
            &[&["SETBIT", "b", "7", "1"]],
            &[],
        ),
        (
            &[&["SETBIT", "b", "7", "1"]],
            &[&["SETBIT", "b", "7", "0"]],
            &[("setbit", "b")],
        ),
        // A longer string is a change even with the bit unchanged.
        (
            &[&["SETBIT", "b", "7", "1"]],
            &[&["SETBIT", "b", "100", "0"]],
            &[("setbit", "b")],
        ),
        (
            &[],
            &[&[
                "BITFIELD", "f", "SET", "u8", "0", "1", "INCRBY", "u8", "0", "1",
            ]],
            &[("setbit", "f")],
        ),
        (
            &[&["SET", "f", "a"]],
            &[&["BITFIELD", "f", "SET", "u8", "0", "97"]],
            &[],
        ),
        (
            &[&["SET", "f", "a"]],
            &[&["BITFIELD", "f", "GET", "u8", "0"]],
            &[],
        ),
        (
            &[&["SET", "f", "a"]],
            &[&["BITFIELD_RO", "f", "GET", "u8", "0"]],
            &[],
        ),
        (
            &[&["SET", "a", "x"], &["SET", "b", "y"]],
            &[&["BITOP", "AND", "d", "a", "b"]],
            &[("set", "d")],
        ),
        (
            &[&["SET", "d", "v"]],
            &[&["BITOP", "OR", "d", "none"]],
            &[("del", "d")],
        ),
        (&[], &[&["BITOP", "OR", "d", "none"]], &[]),
        (&[], &[&["PFADD", "h", "a", "b"]], &[("pfadd", "h")]),
        (&[], &[&["PFADD", "h"]], &[("pfadd", "h")]),
        (&[&["PFADD", "h", "a"]], &[&["PFADD", "h", "a"]], &[]),
        (&[&["PFADD", "h", "a"]], &[&["PFCOUNT", "h"]], &[]),
        (
            &[&["PFADD", "a", "x"], &["PFADD", "b", "y"]],
            &[&["PFMERGE", "d", "a", "b"]],
            &[("pfadd", "d")],
        ),
    ]);
}

#[test]
fn sort_store_events() {
    check(&[
        (
            &[&["RPUSH", "l", "3", "1", "2"]],
            &[&["SORT", "l", "STORE", "d"]],
            &[("sortstore", "d")],
        ),
        (
            &[&["SET", "d", "v"]],
            &[&["SORT", "none", "STORE", "d"]],
            &[("del", "d")],
        ),
        (&[], &[&["SORT", "none", "STORE", "d"]], &[]),
        (
            &[&["RPUSH", "l", "3", "1", "2"]],
            &[&["SORT", "l"], &["SORT_RO", "l"]],
            &[],
        ),
    ]);
}

#[test]
fn transactions_publish_each_command_as_it_runs() {
    check(&[(
        &[],
        &[
            &["MULTI"],
            &["SET", "a", "1"],
            &["LPUSH", "l", "x"],
            &["DEL", "a"],
            &["EXEC"],
        ],
        &[("set", "a"), ("lpush", "l"), ("del", "a")],
    )]);
}
