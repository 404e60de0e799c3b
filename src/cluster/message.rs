//! Cluster bus messages: Rust enums with explicit, versioned, length-prefixed
//! encoding. Every frame is a 12-byte preamble (magic, major/minor version, type,
//! body length) and a body: the sender's header, the type's payload, then
//! extensions. A receiver skips extensions and message types it does not know,
//! so nodes of different minor versions can talk during a rolling upgrade; a
//! different major version is refused.

use thiserror::Error;

use super::topology::{NodeFlags, NodeId};
use crate::slot::{SlotSet, SLOT_BYTES};

/// Frame magic.
pub const MAGIC: &[u8; 4] = b"RCbu";
/// Protocol major version: a peer with another major version is not understood.
pub const VERSION_MAJOR: u8 = 1;
/// Protocol minor version: additions a version-1 peer can skip.
pub const VERSION_MINOR: u8 = 0;
/// Bytes before the body.
pub const PREAMBLE: usize = 12;
/// Largest body accepted (a gossip section of thousands of nodes fits easily).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Why a frame could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame does not start with the magic bytes.
    #[error("bad magic")]
    BadMagic,
    /// The peer speaks another major version.
    #[error("unsupported bus protocol version {0}")]
    Version(u8),
    /// The body is larger than `MAX_BODY`.
    #[error("frame of {0} bytes is too long")]
    TooLong(usize),
    /// The body ended before a field did.
    #[error("truncated message")]
    Truncated,
    /// A node id field is not 40 characters of [0-9a-z].
    #[error("malformed node id")]
    BadNodeId,
    /// A text field is not UTF-8.
    #[error("malformed text field")]
    BadText,
}

/// What the preamble says about the frame that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preamble {
    /// Message type code.
    pub kind: u16,
    /// Body length in bytes.
    pub len: usize,
}

/// Checks a preamble; the body of `len` bytes follows it.
pub fn read_preamble(b: &[u8; PREAMBLE]) -> Result<Preamble, DecodeError> {
    if &b[0..4] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if b[4] != VERSION_MAJOR {
        return Err(DecodeError::Version(b[4]));
    }
    let kind = u16::from_be_bytes([b[6], b[7]]);
    let len = u32::from_be_bytes([b[8], b[9], b[10], b[11]]) as usize;
    if len > MAX_BODY {
        return Err(DecodeError::TooLong(len));
    }
    Ok(Preamble { kind, len })
}

/// The sender's view of itself, carried by every message (Redis's message header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Sender's node id.
    pub sender: NodeId,
    /// Sender's current epoch.
    pub current_epoch: u64,
    /// Config epoch of the sender (of its primary when it is a replica).
    pub config_epoch: u64,
    /// Sender's replication offset.
    pub repl_offset: u64,
    /// Sender's role flags (`MASTER`/`REPLICA`/`NOFAILOVER`).
    pub flags: NodeFlags,
    /// The sender's primary when it is a replica.
    pub master: Option<NodeId>,
    /// Announced IP; empty means "the address this message came from".
    pub ip: String,
    /// Client port.
    pub port: u16,
    /// Bus port.
    pub bus_port: u16,
    /// True when the sender sees the cluster state as ok.
    pub state_ok: bool,
    /// Manual-failover flags.
    pub mflags: u8,
    /// Slots the sender (or its primary) serves.
    pub slots: SlotSet,
}

/// One node as the sender sees it, in the gossip section of PING/PONG/MEET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gossip {
    /// The node.
    pub id: NodeId,
    /// When the sender last pinged it (its monotonic ms, which read like unix
    /// ms; 0 = no ping pending).
    pub ping_sent: u64,
    /// When the sender last heard a PONG from it (its monotonic ms).
    pub pong_received: u64,
    /// Its address.
    pub ip: String,
    /// Its client port.
    pub port: u16,
    /// Its bus port.
    pub bus_port: u16,
    /// Its flags as the sender sees them.
    pub flags: NodeFlags,
}

/// The type-specific part of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Heartbeat request.
    Ping(Vec<Gossip>),
    /// Heartbeat reply (also broadcast after configuration changes).
    Pong(Vec<Gossip>),
    /// A PING that asks an unknown receiver to add the sender.
    Meet(Vec<Gossip>),
    /// `id` is failing, by majority: mark it FAIL.
    Fail {
        /// The failed node.
        id: NodeId,
    },
    /// `id` serves `slots` at `config_epoch`: a correction for a stale claimer.
    Update {
        /// The node whose configuration is announced.
        id: NodeId,
        /// Its config epoch.
        config_epoch: u64,
        /// Its slots.
        slots: SlotSet,
    },
    /// A PUBLISH to deliver to subscribers on every node.
    Publish {
        /// Channel.
        channel: Vec<u8>,
        /// Payload.
        message: Vec<u8>,
    },
    /// An SPUBLISH to deliver within the shard.
    PublishShard {
        /// Channel.
        channel: Vec<u8>,
        /// Payload.
        message: Vec<u8>,
    },
    /// A replica asks the primaries for their vote.
    FailoverAuthRequest,
    /// A primary grants its vote.
    FailoverAuthAck,
    /// A primary agrees to start a manual failover.
    MfStart,
    /// A type this version does not know: skipped.
    Unknown(u16),
}

impl Body {
    /// Wire code of the type (Redis's numbering).
    pub fn code(&self) -> u16 {
        match self {
            Body::Ping(_) => 0,
            Body::Pong(_) => 1,
            Body::Meet(_) => 2,
            Body::Fail { .. } => 3,
            Body::Publish { .. } => 4,
            Body::FailoverAuthRequest => 5,
            Body::FailoverAuthAck => 6,
            Body::Update { .. } => 7,
            Body::MfStart => 8,
            Body::PublishShard { .. } => 10,
            Body::Unknown(c) => *c,
        }
    }
}

/// Number of message types `CLUSTER INFO` keeps counters for.
pub const KINDS: usize = 11;

/// `CLUSTER INFO` names of the message types, indexed by code.
pub const KIND_NAMES: [&str; KINDS] = [
    "ping",
    "pong",
    "meet",
    "fail",
    "publish",
    "auth-req",
    "auth-ack",
    "update",
    "mfstart",
    "module",
    "publishshard",
];

/// Optional additions after the body; unknown kinds are skipped by receivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    /// The sender's announced hostname.
    Hostname(String),
    /// The sender's shard id.
    ShardId(NodeId),
    /// On a PONG: the sender sees the pinger as a healthy primary that owns
    /// every slot its PING claimed. A primary's write lease rests on these.
    Confirm,
    /// A kind this version does not know.
    Unknown {
        /// Its code.
        kind: u16,
        /// Its bytes.
        data: Vec<u8>,
    },
}

/// A whole bus message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who sends it and how it sees itself.
    pub header: Header,
    /// What it says.
    pub body: Body,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

const EXT_HOSTNAME: u16 = 1;
const EXT_SHARD_ID: u16 = 2;
const EXT_CONFIRM: u16 = 3;

impl Message {
    /// Encodes the message as one frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(PREAMBLE + 2300));
        w.0.extend_from_slice(MAGIC);
        w.u8(VERSION_MAJOR);
        w.u8(VERSION_MINOR);
        w.u16(self.body.code());
        w.u32(0);
        let h = &self.header;
        w.id(&h.sender);
        w.u64(h.current_epoch);
        w.u64(h.config_epoch);
        w.u64(h.repl_offset);
        w.u16(h.flags.0);
        w.opt_id(h.master.as_ref());
        w.text(&h.ip);
        w.u16(h.port);
        w.u16(h.bus_port);
        w.u8(h.state_ok as u8);
        w.u8(h.mflags);
        w.0.extend_from_slice(h.slots.as_bytes());
        match &self.body {
            Body::Ping(g) | Body::Pong(g) | Body::Meet(g) => {
                w.u16(g.len() as u16);
                for e in g {
                    w.id(&e.id);
                    w.u64(e.ping_sent);
                    w.u64(e.pong_received);
                    w.text(&e.ip);
                    w.u16(e.port);
                    w.u16(e.bus_port);
                    w.u16(e.flags.0);
                }
            }
            Body::Fail { id } => w.id(id),
            Body::Update {
                id,
                config_epoch,
                slots,
            } => {
                w.id(id);
                w.u64(*config_epoch);
                w.0.extend_from_slice(slots.as_bytes());
            }
            Body::Publish { channel, message } | Body::PublishShard { channel, message } => {
                w.bytes(channel);
                w.bytes(message);
            }
            Body::FailoverAuthRequest | Body::FailoverAuthAck | Body::MfStart => {}
            Body::Unknown(_) => {}
        }
        w.u16(self.extensions.len() as u16);
        for x in &self.extensions {
            let (kind, data): (u16, &[u8]) = match x {
                Extension::Hostname(h) => (EXT_HOSTNAME, h.as_bytes()),
                Extension::ShardId(id) => (EXT_SHARD_ID, id.as_bytes()),
                Extension::Confirm => (EXT_CONFIRM, &[]),
                Extension::Unknown { kind, data } => (*kind, data),
            };
            w.u16(kind);
            w.u32(data.len() as u32);
            w.0.extend_from_slice(data);
        }
        let len = (w.0.len() - PREAMBLE) as u32;
        w.0[8..12].copy_from_slice(&len.to_be_bytes());
        w.0
    }

    /// Decodes a body of type `kind` (from its preamble).
    pub fn decode(kind: u16, body: &[u8]) -> Result<Message, DecodeError> {
        let mut r = Reader(body);
        let header = Header {
            sender: r.id()?,
            current_epoch: r.u64()?,
            config_epoch: r.u64()?,
            repl_offset: r.u64()?,
            flags: NodeFlags(r.u16()?),
            master: r.opt_id()?,
            ip: r.text()?,
            port: r.u16()?,
            bus_port: r.u16()?,
            state_ok: r.u8()? != 0,
            mflags: r.u8()?,
            slots: r.slots()?,
        };
        let body = match kind {
            0..=2 => {
                let n = r.u16()? as usize;
                let mut g = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    g.push(Gossip {
                        id: r.id()?,
                        ping_sent: r.u64()?,
                        pong_received: r.u64()?,
                        ip: r.text()?,
                        port: r.u16()?,
                        bus_port: r.u16()?,
                        flags: NodeFlags(r.u16()?),
                    });
                }
                match kind {
                    0 => Body::Ping(g),
                    1 => Body::Pong(g),
                    _ => Body::Meet(g),
                }
            }
            3 => Body::Fail { id: r.id()? },
            4 | 10 => {
                let channel = r.bytes()?.to_vec();
                let message = r.bytes()?.to_vec();
                if kind == 4 {
                    Body::Publish { channel, message }
                } else {
                    Body::PublishShard { channel, message }
                }
            }
            5 => Body::FailoverAuthRequest,
            6 => Body::FailoverAuthAck,
            7 => Body::Update {
                id: r.id()?,
                config_epoch: r.u64()?,
                slots: r.slots()?,
            },
            8 => Body::MfStart,
            other => {
                return Ok(Message {
                    header,
                    body: Body::Unknown(other),
                    extensions: Vec::new(),
                })
            }
        };
        let mut extensions = Vec::new();
        // A sender of an older minor version may stop before the extension count.
        if r.0.is_empty() {
            return Ok(Message {
                header,
                body,
                extensions,
            });
        }
        let n = r.u16()?;
        for _ in 0..n {
            let kind = r.u16()?;
            let len = r.u32()? as usize;
            let data = r.take(len)?;
            extensions.push(match kind {
                EXT_HOSTNAME => Extension::Hostname(
                    String::from_utf8(data.to_vec()).map_err(|_| DecodeError::BadText)?,
                ),
                EXT_SHARD_ID => {
                    Extension::ShardId(NodeId::parse(data).ok_or(DecodeError::BadNodeId)?)
                }
                EXT_CONFIRM => Extension::Confirm,
                _ => Extension::Unknown {
                    kind,
                    data: data.to_vec(),
                },
            });
        }
        Ok(Message {
            header,
            body,
            extensions,
        })
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn id(&mut self, id: &NodeId) {
        self.0.extend_from_slice(id.as_bytes());
    }
    fn opt_id(&mut self, id: Option<&NodeId>) {
        match id {
            Some(id) => self.id(id),
            None => self.0.extend_from_slice(&[0; 40]),
        }
    }
    fn text(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn id(&mut self) -> Result<NodeId, DecodeError> {
        NodeId::parse(self.take(40)?).ok_or(DecodeError::BadNodeId)
    }
    fn opt_id(&mut self) -> Result<Option<NodeId>, DecodeError> {
        let b = self.take(40)?;
        if b.iter().all(|&c| c == 0) {
            return Ok(None);
        }
        NodeId::parse(b).map(Some).ok_or(DecodeError::BadNodeId)
    }
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn text(&mut self) -> Result<String, DecodeError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::BadText)
    }
    fn slots(&mut self) -> Result<SlotSet, DecodeError> {
        let b = self.take(SLOT_BYTES)?;
        let mut a = [0u8; SLOT_BYTES];
        a.copy_from_slice(b);
        Ok(SlotSet::from_bytes(&a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        let mut slots = SlotSet::new();
        for s in 0..100 {
            slots.set(s, true);
        }
        Header {
            sender: NodeId::random(),
            current_epoch: 7,
            config_epoch: 3,
            repl_offset: 12345,
            flags: NodeFlags::MASTER,
            master: None,
            ip: String::new(),
            port: 7000,
            bus_port: 17000,
            state_ok: true,
            mflags: 0,
            slots,
        }
    }

    fn round_trip(m: &Message) -> Message {
        let frame = m.encode();
        let mut pre = [0u8; PREAMBLE];
        pre.copy_from_slice(&frame[..PREAMBLE]);
        let p = read_preamble(&pre).expect("preamble");
        assert_eq!(p.len, frame.len() - PREAMBLE);
        Message::decode(p.kind, &frame[PREAMBLE..]).expect("decode")
    }

    #[test]
    fn every_type_round_trips() {
        let g = Gossip {
            id: NodeId::random(),
            ping_sent: 1,
            pong_received: 1_700_000_000_000,
            ip: "127.0.0.1".into(),
            port: 7001,
            bus_port: 17001,
            flags: NodeFlags::REPLICA.with(NodeFlags::PFAIL),
        };
        let mut slots = SlotSet::new();
        slots.set(16383, true);
        let bodies = vec![
            Body::Ping(vec![g.clone(), g.clone()]),
            Body::Pong(vec![]),
            Body::Meet(vec![g]),
            Body::Fail {
                id: NodeId::random(),
            },
            Body::Update {
                id: NodeId::random(),
                config_epoch: 9,
                slots,
            },
            Body::Publish {
                channel: b"news".to_vec(),
                message: b"\x00\xffhello".to_vec(),
            },
            Body::PublishShard {
                channel: b"s".to_vec(),
                message: vec![],
            },
            Body::FailoverAuthRequest,
            Body::FailoverAuthAck,
            Body::MfStart,
        ];
        for body in bodies {
            let mut h = header();
            h.master = Some(NodeId::random());
            let m = Message {
                header: h,
                body,
                extensions: vec![
                    Extension::Hostname("node-a".into()),
                    Extension::ShardId(NodeId::random()),
                    Extension::Confirm,
                ],
            };
            assert_eq!(round_trip(&m), m);
        }
    }

    #[test]
    fn unknown_extensions_and_types_are_skipped() {
        let m = Message {
            header: header(),
            body: Body::Pong(vec![]),
            extensions: vec![
                Extension::Unknown {
                    kind: 999,
                    data: vec![1, 2, 3],
                },
                Extension::Hostname("h".into()),
            ],
        };
        assert_eq!(round_trip(&m), m);
        let mut frame = m.encode();
        // A future message type: the header still decodes, the body is skipped.
        frame[6..8].copy_from_slice(&200u16.to_be_bytes());
        let decoded = Message::decode(200, &frame[PREAMBLE..]).expect("decode");
        assert_eq!(decoded.body, Body::Unknown(200));
        assert_eq!(decoded.header, m.header);
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        let frame = Message {
            header: header(),
            body: Body::Ping(vec![]),
            extensions: vec![],
        }
        .encode();
        for cut in 0..frame.len() - PREAMBLE {
            let body = &frame[PREAMBLE..PREAMBLE + cut];
            // Every prefix either decodes (cut inside the optional tail) or errors.
            let _ = Message::decode(0, body);
        }
        assert_eq!(
            Message::decode(0, &frame[PREAMBLE..PREAMBLE + 30]),
            Err(DecodeError::Truncated)
        );
        let mut pre = [0u8; PREAMBLE];
        pre.copy_from_slice(&frame[..PREAMBLE]);
        pre[0] = b'X';
        assert_eq!(read_preamble(&pre), Err(DecodeError::BadMagic));
        pre[0] = b'R';
        pre[4] = 2;
        assert_eq!(read_preamble(&pre), Err(DecodeError::Version(2)));
        pre[4] = 1;
        pre[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(read_preamble(&pre), Err(DecodeError::TooLong(_))));
        let mut bad_id = frame.clone();
        bad_id[PREAMBLE] = b'!';
        assert_eq!(
            Message::decode(0, &bad_id[PREAMBLE..]),
            Err(DecodeError::BadNodeId)
        );
        // Random bytes never panic.
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let n = rng.usize(..3000);
            let junk: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            let _ = Message::decode(rng.u16(..12), &junk);
        }
    }
}
