//! Analysis layer, what one connection teaches about others: endpoints that endpoint-mapper
//! and OXID answers announce (handed to [`crate::epm::resolver`] after each frame), named pipes
//! opened on SMB connections (to link later endpoint-mapper answers to them), and the DCOM
//! interface pointers (IPIDs) answers create, which later requests on other connections name
//! as their object UUID (MS-DCOM §1.3.5: "IPID").
//!
//! Limit: [`MAX_IPIDS`] interface pointers per run (`limit_ipids` when reached).

use std::net::SocketAddr;

use crate::dce::Uuid;
use crate::epm::resolver::Learned;
use crate::hash::FastMap;
use crate::source::Timestamp;

/// DCOM interface pointers (IPID → IID) remembered per run; later ones are not kept.
pub const MAX_IPIDS: usize = 65_536;

/// A named pipe opened on an SMB connection (for linking endpoint-mapper answers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeOpened {
    /// SMB client.
    pub client: SocketAddr,
    /// SMB server.
    pub server: SocketAddr,
    /// Pipe name as opened.
    pub pipe: String,
    /// When.
    pub ts: Timestamp,
}

/// What connections learned for others, owned by the session stage.
#[derive(Debug, Default)]
pub struct Knowledge {
    /// Endpoints learned since the resolver last took them.
    learned: Vec<Learned>,
    /// Pipes opened since the resolver last took them.
    pipes: Vec<PipeOpened>,
    /// DCOM IPIDs seen in answers, and the interface each was created for.
    ipids: FastMap<Uuid, Uuid>,
}

impl Knowledge {
    /// An endpoint was learned from an answer.
    pub fn learn(&mut self, l: Learned) {
        self.learned.push(l);
    }

    /// A named pipe was opened.
    pub fn pipe_opened(&mut self, p: PipeOpened) {
        self.pipes.push(p);
    }

    /// Takes the endpoints learned and pipes opened since the last call.
    pub fn take_news(&mut self) -> (Vec<Learned>, Vec<PipeOpened>) {
        (
            std::mem::take(&mut self.learned),
            std::mem::take(&mut self.pipes),
        )
    }

    /// An answer created the DCOM interface pointer `ipid` for interface `iid`; false when
    /// it is not remembered because [`MAX_IPIDS`] others are (the caller counts `limit_ipids`).
    #[must_use]
    pub fn learn_ipid(&mut self, ipid: Uuid, iid: Uuid) -> bool {
        if self.ipids.len() < MAX_IPIDS || self.ipids.contains_key(&ipid) {
            self.ipids.insert(ipid, iid);
            true
        } else {
            false
        }
    }

    /// The interface a DCOM IPID was created for, when its answer was seen.
    #[must_use]
    pub fn ipid_interface(&self, ipid: Uuid) -> Option<Uuid> {
        self.ipids.get(&ipid).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_pointers_past_the_limit_are_not_kept() {
        let mut k = Knowledge::default();
        let uuid = |n: u32| {
            let mut b = [0; 16];
            b[..4].copy_from_slice(&n.to_be_bytes());
            Uuid(b)
        };
        for n in 0..MAX_IPIDS as u32 {
            assert!(k.learn_ipid(uuid(n), uuid(7)));
        }
        assert!(!k.learn_ipid(uuid(MAX_IPIDS as u32), uuid(7)));
        assert_eq!(k.ipid_interface(uuid(0)), Some(uuid(7)));
        assert_eq!(k.ipid_interface(uuid(MAX_IPIDS as u32)), None);
        assert!(k.learn_ipid(uuid(0), uuid(8)), "a known IPID is updated");
        assert_eq!(k.ipid_interface(uuid(0)), Some(uuid(8)));
    }
}
