//! Geo commands through redis-rs against the real binary, with redis-server
//! 7.0.15 answering the same commands as the reference: scores, coordinates,
//! distances and search results must be identical.

mod common;

use common::{reply_text as reply, RedisServer, TestNode};

const SCRIPT: &[&[&str]] = &[
    &[
        "GEOADD",
        "Sicily",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ],
    &[
        "GEOADD",
        "Sicily",
        "NX",
        "CH",
        "13.361389",
        "38.115556",
        "Palermo",
        "12",
        "37",
        "X",
    ],
    &["GEOADD", "Sicily", "XX", "NX", "1", "1", "a"],
    &["GEOADD", "Sicily", "200", "100", "bad"],
    &["ZRANGE", "Sicily", "0", "-1", "WITHSCORES"],
    &["GEODIST", "Sicily", "Palermo", "Catania", "km"],
    &["GEODIST", "Sicily", "Palermo", "nope"],
    &["GEOHASH", "Sicily", "Palermo", "Catania", "nope"],
    &["GEOPOS", "Sicily", "Palermo", "nope"],
    &[
        "GEORADIUS",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "WITHDIST",
        "WITHCOORD",
        "WITHHASH",
        "ASC",
    ],
    &[
        "GEORADIUS",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "COUNT",
        "1",
        "ANY",
    ],
    &["GEORADIUS", "Sicily", "15", "37", "200", "km", "ANY"],
    &[
        "GEORADIUS",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "STOREDIST",
        "dst",
    ],
    &["ZRANGE", "dst", "0", "-1", "WITHSCORES"],
    &[
        "GEORADIUSBYMEMBER",
        "Sicily",
        "Palermo",
        "200",
        "km",
        "WITHDIST",
    ],
    &[
        "GEOSEARCH",
        "Sicily",
        "FROMLONLAT",
        "15",
        "37",
        "BYBOX",
        "400",
        "400",
        "km",
        "WITHCOORD",
        "ASC",
    ],
    &[
        "GEOSEARCH",
        "Sicily",
        "FROMMEMBER",
        "Palermo",
        "BYRADIUS",
        "10",
        "km",
        "BYBOX",
        "1",
        "1",
        "km",
    ],
    &[
        "GEOSEARCHSTORE",
        "dst",
        "Sicily",
        "FROMLONLAT",
        "15",
        "37",
        "BYRADIUS",
        "200",
        "km",
    ],
    &[
        "GEOSEARCHSTORE",
        "dst",
        "nokey",
        "FROMLONLAT",
        "15",
        "37",
        "BYRADIUS",
        "200",
        "km",
    ],
    &["EXISTS", "dst"],
];

#[test]
fn geo_commands_answer_as_redis_does() {
    common::replies_match_redis(SCRIPT, reply);
}

#[test]
fn searches_over_many_points_match_redis_in_resp2_and_resp3() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.raw(), redis.raw());
    let mut points: Vec<String> = vec!["GEOADD".into(), "pts".into()];
    for i in 0..400 {
        let lon = -179.5 + (i as f64 * 37.77) % 359.0;
        let lat = -84.0 + (i as f64 * 13.13) % 168.0;
        points.extend([format!("{lon}"), format!("{lat}"), format!("p{i}")]);
    }
    let add: Vec<&str> = points.iter().map(String::as_str).collect();
    for proto in ["2", "3"] {
        for args in [
            &["HELLO", proto][..],
            &add,
            &[
                "GEOSEARCH",
                "pts",
                "FROMLONLAT",
                "10",
                "45",
                "BYRADIUS",
                "3000",
                "km",
                "ASC",
                "WITHDIST",
                "WITHCOORD",
            ],
            &[
                "GEOSEARCH",
                "pts",
                "FROMLONLAT",
                "179",
                "-60",
                "BYBOX",
                "4000",
                "2000",
                "km",
                "DESC",
                "WITHHASH",
            ],
            &[
                "GEORADIUSBYMEMBER",
                "pts",
                "p7",
                "5000",
                "mi",
                "COUNT",
                "5",
                "WITHDIST",
            ],
            &["GEOPOS", "pts", "p1", "p2", "p399", "nope"],
            &["GEOHASH", "pts", "p1", "p2", "p399"],
        ] {
            let (a, b) = (ours.call(args), theirs.call(args));
            if args[0] != "HELLO" {
                assert_eq!(a, b, "RESP{proto} {:?}", &args[..args.len().min(4)]);
            }
        }
    }
}
