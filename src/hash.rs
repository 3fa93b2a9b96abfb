//! The hash tables the per-packet and per-call paths look up (connections, calls, contexts, SMB
//! files and requests, IPv4 fragments, endpoints, IPIDs, interface names): foldhash, a fast
//! non-cryptographic hasher, seeded at random once per run so that crafted traffic cannot choose
//! keys that collide.

/// A hash map with the fast, randomly seeded hasher.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A hash set with the fast, randomly seeded hasher.
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
