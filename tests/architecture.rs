//! The module graph has no cycles: data flows one way through the layers (source → link →
//! TCP → SMB → DCE/RPC → analysis → outputs), so a module never uses, directly or through
//! others, a module that uses it. A module's own children may use it (`super::`) as Rust
//! modules do; test modules are left out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module of the library (`src/a/b.rs` is `a::b`) with its source, tests and comments
/// removed.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                if prefix.is_empty() && (name == "main" || name == "lib") {
                    continue;
                }
                let mut parts = prefix.to_vec();
                parts.push(name);
                let text = std::fs::read_to_string(&path).unwrap();
                out.insert(parts.join("::"), code_only(&text));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut out,
    );
    out
}

/// The source without its test module and comment lines.
fn code_only(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).map_or("", |l| l.trim());
        if line.trim() == "#[cfg(test)]" && next.ends_with("mod tests {") {
            break;
        }
        if !line.trim_start().starts_with("//") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The lower-case path segments after each `crate::` and `super::` in `code`, with which of
/// the two it was.
fn paths(code: &str) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    for (from_crate, marker) in [(true, "crate::"), (false, "super::")] {
        for (at, _) in code.match_indices(marker) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut segments = Vec::new();
            let mut rest = &code[at + marker.len()..];
            loop {
                let len = rest
                    .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(rest.len());
                if len == 0 || !rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
                    break;
                }
                segments.push(rest[..len].to_string());
                match rest[len..].strip_prefix("::") {
                    Some(r) => rest = r,
                    None => break,
                }
            }
            out.push((from_crate, segments));
        }
    }
    out
}

/// Which module uses which (a module's use of its own ancestors left out).
fn graph(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, code) in modules {
        let me: Vec<&str> = name.split("::").collect();
        let targets = edges.entry(name.clone()).or_default();
        for (from_crate, segments) in paths(code) {
            let mut full: Vec<String> = if from_crate {
                Vec::new()
            } else {
                me[..me.len() - 1]
                    .iter()
                    .map(|s| (*s).to_string())
                    .collect()
            };
            full.extend(segments);
            let target = (1..=full.len())
                .rev()
                .map(|k| full[..k].join("::"))
                .find(|m| modules.contains_key(m));
            if let Some(t) = target
                && t != *name
                && !name.starts_with(&format!("{t}::"))
            {
                targets.insert(t);
            }
        }
    }
    edges
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let lw = s.low[w.as_str()];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w.as_str()) {
                let iw = s.index[w.as_str()];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn no_module_uses_a_module_that_uses_it() {
    let modules = modules();
    assert!(modules.len() > 70, "the library's modules were found");
    let edges = graph(&modules);
    assert!(
        edges["engine::sessions"].contains("dcerpc::channel"),
        "uses are seen"
    );
    let found = cycles(&edges);
    let report: Vec<String> = found
        .iter()
        .map(|c| {
            let members: BTreeSet<&String> = c.iter().collect();
            let uses: Vec<String> = c
                .iter()
                .flat_map(|m| {
                    edges[m]
                        .iter()
                        .filter(|t| members.contains(t))
                        .map(move |t| format!("{m} -> {t}"))
                })
                .collect();
            uses.join(", ")
        })
        .collect();
    assert!(found.is_empty(), "module cycles: {report:#?}");
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut modules = BTreeMap::new();
    modules.insert("a".to_string(), "use crate::b::Thing;".to_string());
    modules.insert("b".to_string(), "fn f() { crate::c::g() }".to_string());
    modules.insert("c".to_string(), "use super::a::X; // crate::d".to_string());
    modules.insert("d".to_string(), String::new());
    let found = cycles(&graph(&modules));
    assert_eq!(found.len(), 1);
    let mut members = found[0].clone();
    members.sort();
    assert_eq!(members, ["a", "b", "c"]);
}
