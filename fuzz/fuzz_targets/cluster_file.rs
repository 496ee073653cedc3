//! The cluster file parser (`ClusterConfig::parse`, what every command does with `--config`)
//! on arbitrary text: it returns a configuration or an error, never panics; a configuration it
//! accepts, written back as TOML, parses again to the same configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use twosafe::runtime::config::ClusterConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/cluster.toml");
    if let Ok(cfg) = ClusterConfig::parse(text, path) {
        let written = toml::to_string(&cfg).expect("an accepted configuration writes as TOML");
        let again = ClusterConfig::parse(&written, path).expect("what was written parses");
        let rewritten = toml::to_string(&again).expect("and writes again");
        assert_eq!(written, rewritten, "the same configuration");
    }
});
