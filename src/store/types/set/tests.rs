use super::*;

fn set_of(members: &[&[u8]], max: usize) -> Set {
    let mut s = Set::default();
    for m in members {
        s.add(m, max);
    }
    s
}

#[test]
fn integers_stay_an_intset_until_a_string_or_the_limit() {
    let mut s = Set::default();
    assert!(s.add(b"3", 4) && s.add(b"-1", 4) && s.add(b"70000", 4));
    assert!(!s.add(b"3", 4));
    assert_eq!((s.encoding(), s.len()), ("intset", 3));
    // Redis's own bytes: width 4, three members, ascending.
    assert_eq!(
        &s.members()[..],
        &[&b"-1"[..], b"3", b"70000"].map(Cow::Borrowed)[..]
    );
    assert!(s.contains(b"70000") && !s.contains(b"070000") && !s.contains(b"x"));
    assert!(s.add(b"4", 4));
    assert_eq!(s.encoding(), "intset");
    assert!(s.add(b"5", 4));
    assert_eq!((s.encoding(), s.len()), ("hashtable", 5));
    let mut t = set_of(&[b"1", b"2"], 512);
    assert!(t.add(b"01", 512));
    assert_eq!(t.encoding(), "hashtable");
    assert!(t.contains(b"01") && t.contains(b"1"));
    // Never back to an intset.
    assert!(t.remove(b"01"));
    assert_eq!(t.encoding(), "hashtable");
}

#[test]
fn packed_and_table_forms_behave_alike() {
    let mut small = Set::default();
    let mut big = Set::default();
    for i in 0..40 {
        let m = format!("m{i}");
        small.add(m.as_bytes(), 512);
        if i < 10 {
            big.add(m.as_bytes(), 512);
        }
    }
    assert!(matches!(small, Set::Table(_)));
    assert!(matches!(big, Set::Packed(_)));
    assert_eq!(big.encoding(), "hashtable");
    for i in 0..40 {
        let m = format!("m{i}");
        assert!(small.contains(m.as_bytes()));
        assert_eq!(big.contains(m.as_bytes()), i < 10);
    }
    let long = vec![b'x'; 100];
    assert!(big.add(&long, 512));
    assert!(matches!(big, Set::Table(_)) && big.contains(&long));
    while let Some(m) = small.pop_random() {
        assert!(!small.contains(&m));
    }
    assert!(small.is_emptied());
}

#[test]
fn random_picks_cover_every_member() {
    for s in [
        set_of(&[b"1", b"2", b"3"], 512),
        set_of(&[b"a", b"b", b"c"], 512),
        set_of(
            &(0..100)
                .map(|i| format!("k{i}"))
                .collect::<Vec<_>>()
                .iter()
                .map(|s| s.as_bytes())
                .collect::<Vec<_>>(),
            512,
        ),
    ] {
        let mut seen = hashbrown::HashSet::new();
        for _ in 0..5000 {
            seen.insert(s.random().expect("non-empty").to_bytes().into_owned());
        }
        assert_eq!(seen.len(), s.len());
    }
}

#[test]
fn sscan_meets_every_member_present_throughout() {
    let mut s = Set::default();
    for i in 0..2000 {
        s.add(format!("v{i}").as_bytes(), 512);
    }
    let mut seen = hashbrown::HashSet::new();
    let mut cursor = 0;
    let mut round = 0;
    loop {
        cursor = s.scan(cursor, 25, |m| {
            seen.insert(m.to_bytes().into_owned());
        });
        // Churn between calls: remove some early members, add new ones.
        round += 1;
        s.remove(format!("v{}", round * 7 % 1000).as_bytes());
        s.add(format!("new{round}").as_bytes(), 512);
        if cursor == 0 {
            break;
        }
    }
    for i in 1000..2000 {
        assert!(seen.contains(format!("v{i}").as_bytes()), "missed v{i}");
    }
}

#[test]
fn digest_and_rewrite() {
    let a = set_of(&[b"1", b"x", b"2"], 512);
    let b = set_of(&[b"x", b"2", b"1"], 512);
    let (mut da, mut db) = ([0u8; 20], [0u8; 20]);
    a.digest(&mut da);
    b.digest(&mut db);
    assert_eq!(da, db);
    let many: Vec<String> = (0..130).map(|i| format!("m{i}")).collect();
    let big = set_of(&many.iter().map(|m| m.as_bytes()).collect::<Vec<_>>(), 512);
    let mut cmds = Vec::new();
    big.rewrite(b"k", &mut |argv| cmds.push(argv.len() - 2));
    assert_eq!(cmds, vec![64, 64, 2]);
}
