//! The hash tables the per-packet and per-call paths look up (connections, calls, contexts, SMB
//! files and requests, IPv4 fragments, endpoints, IPIDs, interface names): foldhash, a fast
//! non-cryptographic hasher, seeded at random once per run so that crafted traffic cannot choose
//! keys that collide.

/// A hash map with the fast, randomly seeded hasher.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A hash set with the fast, randomly seeded hasher.
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Entries a [`SmallMap`] keeps in a vector before it becomes a hash map.
pub const SMALL_MAP_ENTRIES: usize = 8;

/// A map for per-association tables, where one or two entries are the rule and a crafted peer
/// may make a thousand: up to [`SMALL_MAP_ENTRIES`] entries it is a vector sized to what it
/// holds (a hash table allocates room for four entries and its control bytes at the first
/// insert), searched linearly; beyond, a [`FastMap`].
#[derive(Clone, Debug)]
pub enum SmallMap<K, V> {
    /// At most [`SMALL_MAP_ENTRIES`] entries.
    Few(Vec<(K, V)>),
    /// More.
    Many(FastMap<K, V>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

impl<K: Eq + std::hash::Hash, V> SmallMap<K, V> {
    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        match self {
            Self::Few(v) => v.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Self::Many(m) => m.get(key),
        }
    }

    /// True when `key` has a value.
    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Sets the value of `key`.
    pub fn insert(&mut self, key: K, value: V) {
        match self {
            Self::Few(v) => {
                if let Some(slot) = v.iter_mut().find(|(k, _)| *k == key) {
                    slot.1 = value;
                } else if v.len() < SMALL_MAP_ENTRIES {
                    v.reserve_exact(1);
                    v.push((key, value));
                } else {
                    let mut m: FastMap<K, V> = std::mem::take(v).into_iter().collect();
                    m.insert(key, value);
                    *self = Self::Many(m);
                }
            }
            Self::Many(m) => {
                m.insert(key, value);
            }
        }
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        match self {
            Self::Few(v) => {
                let i = v.iter().position(|(k, _)| k == key)?;
                Some(v.swap_remove(i).1)
            }
            Self::Many(m) => m.remove(key),
        }
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        match self {
            Self::Few(v) => v.clear(),
            Self::Many(m) => m.clear(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            Self::Few(v) => v.len(),
            Self::Many(m) => m.len(),
        }
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_map_answers_the_same_before_and_after_it_grows_into_a_hash_map() {
        let mut m: SmallMap<u16, u32> = SmallMap::default();
        for k in 0..40u16 {
            m.insert(k, u32::from(k) * 10);
            m.insert(k, u32::from(k) * 10 + 1);
            if usize::from(k) < SMALL_MAP_ENTRIES {
                assert!(matches!(m, SmallMap::Few(_)), "vector up to the limit");
            } else {
                assert!(matches!(m, SmallMap::Many(_)), "hash map past it");
            }
            assert_eq!(m.len(), usize::from(k) + 1);
        }
        for k in 0..40u16 {
            assert_eq!(m.get(&k), Some(&(u32::from(k) * 10 + 1)));
        }
        assert_eq!(m.remove(&3), Some(31));
        assert!(!m.contains_key(&3));
        assert_eq!(m.get(&40), None);
        m.clear();
        assert!(m.is_empty());
        let mut few: SmallMap<u16, u32> = SmallMap::default();
        few.insert(1, 1);
        few.insert(2, 2);
        assert_eq!(few.remove(&1), Some(1));
        assert_eq!(few.get(&2), Some(&2));
        assert_eq!(few.len(), 1);
    }
}
