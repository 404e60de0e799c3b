//! What the stream commands propagate (effects, never requests).

use crate::commands::testkit::Kit;

fn last(k: &Kit) -> String {
    k.last_propagated()
}

/// The propagated commands after `from`, joined by spaces.
fn since(k: &Kit, from: usize) -> Vec<String> {
    k.stream()
        .into_iter()
        .skip(from)
        .map(|c| c.join(" "))
        .collect()
}

#[test]
fn xadd_propagates_the_id_it_made_and_an_exact_trim() {
    let mut k = Kit::new();
    let r = k.run(&["XADD", "s", "*", "f", "v"]);
    let id = r.lines().nth(1).unwrap_or_default().to_string();
    assert!(id.contains('-'), "{r}");
    assert_eq!(last(&k), format!("XADD s {id} f v"));
    k.run(&["XADD", "s", "5-*", "f", "v"]);
    assert_ne!(last(&k), "XADD s 5-* f v");
    k.run(&["CONFIG", "SET", "stream-node-max-entries", "2"]);
    for i in 1..=6 {
        k.run(&["XADD", "t", &format!("{i}-1"), "f", "v"]);
    }
    k.run(&[
        "XADD", "t", "MAXLEN", "~", "3", "LIMIT", "4", "7-1", "f", "v",
    ]);
    // Two whole nodes went (four entries, the LIMIT): three are left.
    assert_eq!(last(&k), "XADD t MAXLEN = 3 LIMIT 4 7-1 f v");
    k.run(&["XTRIM", "t", "MINID", "~", "7"]);
    assert_eq!(last(&k), "XTRIM t MINID = 7-1");
    let n = k.stream().len();
    k.run(&["XTRIM", "t", "MAXLEN", "100"]);
    assert_eq!(k.stream().len(), n, "a trim that removed nothing");
}

#[test]
fn xreadgroup_propagates_xclaim_and_group_ids() {
    let mut k = Kit::new();
    k.run(&["XADD", "s", "1-1", "f", "v"]);
    k.run(&["XADD", "s", "2-1", "f", "v"]);
    k.run(&["XGROUP", "CREATE", "s", "g", "0"]);
    let n = k.stream().len();
    k.run(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]);
    let got = since(&k, n);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("XCLAIM s g c 0 1-1 TIME "), "{got:?}");
    assert!(
        got[1].ends_with("RETRYCOUNT 1 FORCE JUSTID LASTID 2-1"),
        "{got:?}"
    );
    k.run(&["XADD", "s", "3-1", "f", "v"]);
    let n = k.stream().len();
    k.run(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "d",
        "NOACK",
        "STREAMS",
        "s",
        ">",
    ]);
    assert_eq!(
        since(&k, n),
        vec![
            "XGROUP CREATECONSUMER s g d".to_string(),
            "XGROUP SETID s g 3-1 ENTRIESREAD 3".to_string()
        ]
    );
    // History reads and reads with nothing new propagate nothing.
    let n = k.stream().len();
    k.run(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"]);
    k.run(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]);
    assert_eq!(k.stream().len(), n);
}

#[test]
fn xclaim_and_xautoclaim_propagate_per_entry() {
    let mut k = Kit::new();
    k.run(&["XADD", "s", "1-1", "f", "v"]);
    k.run(&["XADD", "s", "2-1", "f", "v"]);
    k.run(&["XGROUP", "CREATE", "s", "g", "0"]);
    k.run(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]);
    let n = k.stream().len();
    k.run(&[
        "XCLAIM",
        "s",
        "g",
        "d",
        "0",
        "1-1",
        "RETRYCOUNT",
        "7",
        "JUSTID",
    ]);
    let got = since(&k, n);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("XCLAIM s g d 0 1-1 TIME "), "{got:?}");
    assert!(got[0].contains("RETRYCOUNT 7"), "{got:?}");
    k.run(&["XDEL", "s", "2-1"]);
    let n = k.stream().len();
    let r = k.run(&["XAUTOCLAIM", "s", "g", "e", "0", "0", "JUSTID"]);
    assert!(r.contains("2-1"), "the deleted entry is reported: {r}");
    assert_eq!(since(&k, n).len(), 2);
    assert_eq!(k.run(&["XPENDING", "s", "g"]).lines().nth(1), Some(":1"));
    let n = k.stream().len();
    k.run(&["XCLAIM", "s", "g", "e", "0", "9-9", "LASTID", "5-0"]);
    assert_eq!(since(&k, n), vec!["XGROUP SETID s g 5-0 ENTRIESREAD 2"]);
}

#[test]
fn group_commands_propagate_only_changes() {
    let mut k = Kit::new();
    k.run(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    assert_eq!(last(&k), "XGROUP CREATE s g $ MKSTREAM");
    let n = k.stream().len();
    k.run(&["XGROUP", "CREATECONSUMER", "s", "g", "c"]);
    k.run(&["XGROUP", "CREATECONSUMER", "s", "g", "c"]);
    k.run(&["XGROUP", "DELCONSUMER", "s", "g", "nobody"]);
    k.run(&["XGROUP", "DESTROY", "s", "nope"]);
    k.run(&["XACK", "s", "g", "1-1"]);
    k.run(&["XDEL", "s", "1-1"]);
    assert_eq!(since(&k, n), vec!["XGROUP CREATECONSUMER s g c"]);
}
