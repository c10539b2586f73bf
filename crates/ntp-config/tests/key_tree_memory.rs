//! The configuration's key tree (≈ 60 kB) lives only as long as a load: a
//! daemon idling between reloads must not carry it (issue 21, footprint).
//! Its own test binary, so no other test holds the tree meanwhile.

use ntp_config::{key_tree_in_memory, load_from_strs, spec_table, Overrides};

#[test]
fn the_key_tree_is_freed_after_each_load() {
    assert!(!key_tree_in_memory());
    let text = "[ntp_server]\nstratum = 3\n[sources]\n[[sources.servers]]\naddress = \"192.0.2.1\"\n";
    let loaded = load_from_strs(&[("a.toml".into(), text.into())], Vec::new(), &Overrides::default()).unwrap();
    assert_eq!(loaded.config.sources.servers.len(), 1);
    assert!(!key_tree_in_memory(), "a successful load keeps the key tree");
    // A refused load (unknown key, out of range) reads the tree for its messages too.
    for (bad, says) in [("[ntp_server]\nstratum = 99\n", "1..=15"), ("[ntp_server]\nnope = 1\n", "unknown key")] {
        let err = load_from_strs(&[("b.toml".into(), bad.into())], Vec::new(), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
        assert!(!key_tree_in_memory(), "a refused load keeps the key tree");
    }
    // And a second load builds it again: same result.
    let again = load_from_strs(&[("a.toml".into(), text.into())], Vec::new(), &Overrides::default()).unwrap();
    assert_eq!(again.config.ntp_server.stratum, loaded.config.ntp_server.stratum);
    spec_table("r.yaml", "apiVersion: ntp.example.com/v1\nkind: NTPService\nspec: {}\n").ok();
    assert!(!key_tree_in_memory(), "reading a resource keeps the key tree");
}
