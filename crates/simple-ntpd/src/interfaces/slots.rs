//! Counter slots for interfaces: each interface name the server has seen
//! gets a small, stable slot number (never reused, so counters keep their
//! label), up to [`MAX_SLOTS`]; slot [`OTHER`] collects requests whose
//! interface is unknown or beyond the limit. This bounds the `interface`
//! label of the metrics whatever the host does.

use std::sync::{Arc, Mutex};

/// Slots per worker, [`OTHER`] included.
pub const MAX_SLOTS: usize = 64;

/// The slot of unknown interfaces and of those beyond [`MAX_SLOTS`].
pub const OTHER: usize = 0;

/// The label of [`OTHER`].
pub const OTHER_NAME: &str = "other";

/// Slot names, append-only; shared by the table builder and the readers.
#[derive(Clone, Debug)]
pub struct SlotNames(Arc<Mutex<Vec<String>>>);

impl Default for SlotNames {
    fn default() -> Self {
        SlotNames(Arc::new(Mutex::new(vec![OTHER_NAME.to_owned()])))
    }
}

impl SlotNames {
    /// The slot of interface `name`, assigned on first use.
    pub fn slot(&self, name: &str) -> usize {
        let mut names = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = names.iter().position(|n| n == name) {
            return i;
        }
        if names.len() >= MAX_SLOTS {
            return OTHER;
        }
        names.push(name.to_owned());
        names.len() - 1
    }

    /// Every slot's name, by slot.
    pub fn names(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_stable_and_bounded() {
        let s = SlotNames::default();
        assert_eq!(s.slot("lo"), 1);
        assert_eq!(s.slot("vlan-10"), 2);
        assert_eq!(s.slot("lo"), 1);
        for i in 0..100 {
            s.slot(&format!("veth{i}"));
        }
        assert_eq!(s.names().len(), MAX_SLOTS);
        assert_eq!(s.slot("one-too-many"), OTHER);
        assert_eq!(s.names()[OTHER], "other");
    }
}
