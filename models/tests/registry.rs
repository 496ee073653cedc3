//! The registry, checked: what each protocol declares about itself is consistent, every
//! property it declares can fail (some seeded bug is expected to break it), and the protocol
//! folders keep the floor plan — no folder imports from another protocol's folder, roles
//! never import the model builder, and every protocol has its role tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use twosafe_models::catalogue::{self, MODELS};
use twosafe_models::spec::ModelSpec;

/// The properties of `m` that no seeded-bug variant is expected to break (a property the
/// protocol gives up is broken by the protocol itself, in the configurations that show it).
fn unbitten(m: &ModelSpec) -> Vec<&'static str> {
    m.properties
        .iter()
        .map(|p| p.name)
        .filter(|p| !m.variants().any(|v| v.breaks.contains(p)))
        .filter(|p| !m.given_up.iter().any(|g| g.property == *p && !g.shown_by.is_empty()))
        .collect()
}

#[test]
fn every_declared_property_has_a_seeded_bug_that_breaks_it() {
    let missing: Vec<String> = MODELS
        .iter()
        .flat_map(|m| unbitten(m).into_iter().map(move |p| format!("{}: {p}", m.name)))
        .collect();
    assert!(missing.is_empty(), "properties no seeded bug breaks: {missing:?}");
}

#[test]
fn the_unbitten_property_check_can_fail() {
    // A declaration with a property that no variant breaks is reported.
    let m = catalogue::model("migration").unwrap();
    let props = Box::leak(
        m.properties
            .iter()
            .copied()
            .chain([twosafe_models::spec::PropertySpec { name: "never-seeded", about: "" }])
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let extended = ModelSpec { properties: props, ..*m };
    assert_eq!(unbitten(&extended), ["never-seeded"]);
}

#[test]
fn declarations_are_consistent() {
    let mut names = BTreeSet::new();
    for m in MODELS {
        assert!(names.insert(m.name), "{} registered twice", m.name);
        let props: BTreeSet<_> = m.properties.iter().map(|p| p.name).collect();
        let variants: Vec<_> = m.variants().collect();
        assert_eq!(variants[0].name, "correct", "{}: correct first", m.name);
        assert!(variants[0].breaks.is_empty() && variants[0].check.is_none());
        let mut seen = BTreeSet::new();
        for v in &variants {
            assert!(seen.insert(v.name), "{}: variant {} twice", m.name, v.name);
            for b in v.breaks {
                assert!(props.contains(b), "{}/{}: breaks unknown {b}", m.name, v.name);
            }
            if v.name != "correct" {
                let c = v.check.expect("a seeded bug has its configuration");
                assert_eq!(c.config, format!("bug/{}", v.name));
                // Its configuration is valid and selects the variant.
                let p = m.params_of(&c, &[]).unwrap();
                assert_eq!(p.choice("variant"), Ok(v.name));
            }
        }
        let mut configs = BTreeSet::new();
        for c in m.checks() {
            assert!(configs.insert(c.config), "{}: {} twice", m.name, c.config);
            let p = m.params_of(&c, &[]).unwrap();
            assert!(m.variant(&p).is_some(), "{}: {}", m.name, c.config);
        }
        // What the protocol gives up is one of its properties, no seeded bug is said to break
        // it, and the configurations that show it are configurations of the protocol itself.
        for g in m.given_up {
            assert!(props.contains(g.property), "{}: gives up unknown {}", m.name, g.property);
            assert!(!g.shown_by.is_empty(), "{}: {} shown nowhere", m.name, g.property);
            assert!(
                variants.iter().all(|v| !v.breaks.contains(&g.property)),
                "{}: {} is given up and seeded",
                m.name,
                g.property
            );
            for config in g.shown_by {
                let c = m.checks().into_iter().find(|c| c.config == *config);
                let c = c.unwrap_or_else(|| panic!("{}: no configuration {config}", m.name));
                let p = m.params_of(&c, &[]).unwrap();
                assert_eq!(p.choice("variant"), Ok("correct"), "{}: {config}", m.name);
            }
        }
        // The variant parameter offers exactly this model's variants.
        let mut p = m.defaults();
        for v in m.variants {
            let ok = p.set(m.params, "variant", v.name).is_ok();
            assert_eq!(ok, v.in_model(m.name), "{}: variant={}", m.name, v.name);
        }
    }
}

/// The protocol folders under models/src.
fn protocol_folders() -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.join("model.rs").exists())
        .collect();
    out.sort();
    out
}

#[test]
fn protocol_folders_keep_the_floor_plan() {
    let folders = protocol_folders();
    // Ten protocol models in seven folders: rolling upgrade and transactions are second models
    // of fuzzy copy's and logical checkpointing's roles.
    assert!(folders.len() >= 7, "{folders:?}");
    let names: Vec<String> =
        folders.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for (dir, name) in folders.iter().zip(&names) {
        for f in ["mod.rs", "msg.rs", "model.rs", "client.rs"] {
            assert!(dir.join(f).exists(), "{name}/{f} is missing");
        }
        let roles = tests.join(format!("{name}_roles.rs"));
        assert!(roles.exists(), "{name} has no role tests ({})", roles.display());
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            for other in names.iter().filter(|o| *o != name) {
                assert!(
                    !text.contains(&format!("crate::{other}")),
                    "{name}/{file} imports from the {other} folder"
                );
            }
            assert!(
                !text.contains("crate::catalogue"),
                "{name}/{file} imports the catalogue (it sits above the protocols)"
            );
            let role = !matches!(file.as_str(), "mod.rs" | "model.rs")
                && !file.starts_with("rolling_upgrade");
            if role {
                assert!(
                    !text.contains("super::model"),
                    "{name}/{file}: a role imports the model builder"
                );
            }
        }
    }
}
