//! One source of settings (a file, the environment or the command line) as a
//! raw TOML table plus where each key came from, and the deep merge of layers
//! (tables merge key by key, arrays and other values are replaced whole).

use std::collections::BTreeMap;
use std::sync::Arc;

/// Where a layer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A configuration file, by the name it was given.
    File(Arc<str>),
    /// An environment variable.
    Env(String),
    /// A command-line option such as `--listen`.
    Cli(&'static str),
}

/// Where one key (and its value) was written: 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub source: Source,
    pub key: (usize, usize),
    pub value: (usize, usize),
}

impl Origin {
    pub fn file(name: &Arc<str>, key: (usize, usize), value: (usize, usize)) -> Self {
        Self { source: Source::File(name.clone()), key, value }
    }

    pub fn env(var: &str) -> Self {
        Self { source: Source::Env(var.to_owned()), key: (0, 0), value: (0, 0) }
    }

    pub fn cli(option: &'static str) -> Self {
        Self { source: Source::Cli(option), key: (0, 0), value: (0, 0) }
    }

    fn render(&self, pos: Option<(usize, usize)>) -> String {
        match (&self.source, pos) {
            (Source::File(f), Some((l, c))) => format!("{f}:{l}:{c}"),
            (Source::File(f), None) => format!("{f}:{}", self.key.0),
            (Source::Env(v), _) => format!("environment {v}"),
            (Source::Cli(o), _) => format!("command line {o}"),
        }
    }

    /// `file:line:column` of the value (or the variable / option).
    pub fn at_value(&self) -> String {
        self.render(Some(self.value))
    }

    /// `file:line` of the key, for warnings.
    pub fn at_line(&self) -> String {
        self.render(None)
    }
}

/// A raw TOML table and the origin of every key path in it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layer {
    pub table: toml::Table,
    /// Origins of all key paths (tables, values, array elements), e.g.
    /// `sources.servers[0].minpoll`.
    pub origins: BTreeMap<String, Origin>,
    /// The key paths the user gave a value (leaves and whole arrays), in the
    /// order they were written.
    pub set: Vec<(String, Origin)>,
    /// The layer is an NTPService resource document (whose `kubernetes`
    /// keys are meant for the operator).
    pub resource: bool,
}

/// The path one level up: `a.b[0].c` -> `a.b[0]` -> `a.b` -> `a`.
pub(crate) fn parent(path: &str) -> Option<&str> {
    path.rfind(['.', '[']).map(|i| &path[..i])
}

/// `path` is `ancestor` or lies below it.
pub(crate) fn is_within(path: &str, ancestor: &str) -> bool {
    path == ancestor || (path.starts_with(ancestor) && matches!(path.as_bytes().get(ancestor.len()), Some(b'.' | b'[')))
}

impl Layer {
    /// The origin of `path` or, failing that, of its nearest ancestor.
    pub fn locate(&self, path: &str) -> Option<&Origin> {
        let mut p = path;
        loop {
            if let Some(o) = self.origins.get(p) {
                return Some(o);
            }
            p = parent(p)?;
        }
    }

    /// Sets a value at a dotted path of plain keys, creating tables on the way.
    pub fn insert(&mut self, path: &str, value: toml::Value, origin: Origin) {
        let keys: Vec<&str> = path.split('.').collect();
        let mut table = &mut self.table;
        for (i, k) in keys.iter().enumerate() {
            let here = keys[..=i].join(".");
            if i + 1 == keys.len() {
                table.insert((*k).to_owned(), value);
                self.origins.insert(here.clone(), origin.clone());
                self.set.push((here, origin));
                return;
            }
            self.origins.entry(here).or_insert_with(|| origin.clone());
            let entry = table.entry((*k).to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            let toml::Value::Table(next) = entry else {
                return;
            };
            table = next;
        }
    }

    /// The value at a dotted path of plain keys.
    pub fn get(&self, path: &str) -> Option<&toml::Value> {
        let mut keys = path.split('.');
        let mut v = self.table.get(keys.next()?)?;
        for k in keys {
            v = v.as_table()?.get(k)?;
        }
        Some(v)
    }

    /// Removes the value at a dotted path of plain keys, with its origins.
    pub fn remove(&mut self, path: &str) -> Option<toml::Value> {
        let (head, last) = match path.rsplit_once('.') {
            Some((h, l)) => (Some(h), l),
            None => (None, path),
        };
        let table = match head {
            None => &mut self.table,
            Some(h) => {
                let mut t = &mut self.table;
                for k in h.split('.') {
                    t = t.get_mut(k)?.as_table_mut()?;
                }
                t
            }
        };
        let v = table.remove(last)?;
        self.origins.retain(|p, _| !is_within(p, path));
        self.set.retain(|(p, _)| !is_within(p, path));
        Some(v)
    }

    /// Lays `over` on top of `self`: tables merge key by key, everything else
    /// (arrays included) is replaced whole.
    pub fn merge(&mut self, over: Layer) {
        for (path, _) in &over.set {
            self.origins.retain(|p, _| !is_within(p, path));
        }
        merge_tables(&mut self.table, over.table);
        self.origins.extend(over.origins);
        self.set.extend(over.set);
    }
}

fn merge_tables(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(text: &str, name: &str) -> Layer {
        let table: toml::Table = text.parse().unwrap();
        let mut l = Layer::default();
        fn walk(t: &toml::Table, prefix: &str, l: &mut Layer, name: &Arc<str>) {
            for (k, v) in t {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                let o = Origin::file(name, (1, 1), (1, 1));
                l.origins.insert(p.clone(), o.clone());
                match v {
                    toml::Value::Table(t) => walk(t, &p, l, name),
                    _ => l.set.push((p, o)),
                }
            }
        }
        walk(&table, "", &mut l, &Arc::from(name));
        l.table = table;
        l
    }

    #[test]
    fn merge_is_deep_for_tables_and_whole_for_arrays() {
        let mut base = layer("[a]\nx = 1\ny = [1, 2]\n[a.t]\nk = 1\n[[s]]\nq = 1\n[[s]]\nq = 2\n", "base");
        let over = layer("[a]\ny = [3]\n[a.t]\nj = 2\n[[s]]\nq = 9\n", "over");
        base.merge(over);
        let want: toml::Table = "[a]\nx = 1\ny = [3]\n[a.t]\nk = 1\nj = 2\n[[s]]\nq = 9\n".parse().unwrap();
        assert_eq!(base.table, want);
        assert!(matches!(&base.locate("a.x").unwrap().source, Source::File(f) if &**f == "base"));
        assert!(matches!(&base.locate("a.y").unwrap().source, Source::File(f) if &**f == "over"));
        assert!(matches!(&base.locate("s[0].q").unwrap().source, Source::File(f) if &**f == "over"));
    }

    #[test]
    fn paths() {
        assert_eq!(parent("a.b[0].c"), Some("a.b[0]"));
        assert_eq!(parent("a.b[0]"), Some("a.b"));
        assert_eq!(parent("a"), None);
        assert!(is_within("a.b[0].c", "a.b"));
        assert!(!is_within("a.bc", "a.b"));
    }
}
