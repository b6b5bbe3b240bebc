//! Behaviour of every socket type over [`FakePipes`].

use bytes::Bytes;
use oxmq_proto::{Msg, SocketType};

use crate::testing::FakePipes;
use crate::{ByteFrame, PatternError, PatternOption, PeerInfo, PipeId, SendError, SocketPattern};

struct Harness {
    s: SocketPattern,
    fp: FakePipes,
}

fn p(n: u64) -> PipeId {
    PipeId(n)
}

impl Harness {
    fn new(t: SocketType) -> Harness {
        Harness {
            s: SocketPattern::new(t).expect("supported"),
            fp: FakePipes::new(),
        }
    }

    fn attach(&mut self, n: u64, hwm: usize) {
        self.fp.add(p(n), hwm);
        self.s.attach(&mut self.fp, p(n), &PeerInfo::new());
    }

    fn attach_id(&mut self, n: u64, id: &[u8]) {
        self.fp.add(p(n), 0);
        let peer = PeerInfo::new().with_routing_id(Bytes::copy_from_slice(id));
        self.s.attach(&mut self.fp, p(n), &peer);
    }

    fn send(&mut self, frames: &[&[u8]]) -> Result<(), SendError> {
        for (i, f) in frames.iter().enumerate() {
            let m = Msg::copy_from_slice(f).with_more(i + 1 < frames.len());
            self.s.send(&mut self.fp, m)?;
        }
        Ok(())
    }

    /// [`Harness::send`] through [`SocketPattern::send_bytes`].
    fn send_bytes(&mut self, frames: &[&[u8]]) -> Result<(), PatternError> {
        for (i, data) in frames.iter().enumerate() {
            let more = i + 1 < frames.len();
            self.s.send_bytes(&mut self.fp, ByteFrame { data, more })?;
        }
        Ok(())
    }

    fn recv(&mut self) -> Result<Vec<Vec<u8>>, PatternError> {
        let mut out = Vec::new();
        loop {
            let m = self.s.recv(&mut self.fp)?;
            out.push(m.data().to_vec());
            if !m.more() {
                return Ok(out);
            }
        }
    }

    /// Queues a message from peer `n` and reports the pipe readable, as the core does.
    fn push_in<'a>(&mut self, n: u64, frames: impl IntoIterator<Item = &'a [u8]>) {
        self.fp.push_in(p(n), frames);
        self.s.read_activated(p(n));
    }

    fn out(&mut self, n: u64) -> Vec<Vec<Vec<u8>>> {
        self.fp.take_out_messages(p(n))
    }

    fn set(&mut self, opt: PatternOption) -> Result<(), PatternError> {
        self.s.set_option(&mut self.fp, opt)
    }
}

fn v(frames: &[&[u8]]) -> Vec<Vec<u8>> {
    frames.iter().map(|f| f.to_vec()).collect()
}

fn topic(t: &str) -> Bytes {
    Bytes::copy_from_slice(t.as_bytes())
}

// ---------------------------------------------------------------- general

#[test]
fn classic_types_are_supported_and_round_trip() {
    assert!(SocketPattern::new(SocketType::Stream).is_ok());
    for t in SocketType::ALL {
        if let Ok(s) = SocketPattern::new(t) {
            assert_eq!(s.socket_type(), t);
        }
    }
}

#[test]
fn errno_names_match_libzmq() {
    assert_eq!(PatternError::WouldBlock.errno_name(), "EAGAIN");
    assert_eq!(PatternError::Fsm.errno_name(), "EFSM");
    assert_eq!(PatternError::HostUnreachable.errno_name(), "EHOSTUNREACH");
    assert_eq!(PatternError::NotSupported.errno_name(), "ENOTSUP");
    assert_eq!(PatternError::InvalidArgument.errno_name(), "EINVAL");
}

#[test]
fn wrong_direction_is_not_supported() {
    for t in [SocketType::Pub, SocketType::Push] {
        let mut h = Harness::new(t);
        h.attach(1, 0);
        assert_eq!(h.s.recv(&mut h.fp).err(), Some(PatternError::NotSupported));
        assert!(!h.s.has_in(&mut h.fp));
    }
    for t in [SocketType::Sub, SocketType::Pull] {
        let mut h = Harness::new(t);
        h.attach(1, 0);
        let e = h.send(&[b"x"]).expect_err("not supported");
        assert_eq!(e.kind, PatternError::NotSupported);
        assert_eq!(e.msg.data(), b"x");
        assert!(!h.s.has_out(&mut h.fp));
    }
}

/// Every socket type sends a frame given as bytes exactly as the same frame given as a `Msg`:
/// to the same pipes, in the same order, with the same errors (the types that let the pipe
/// build the frame, PUSH, DEALER and PAIR, and those that build a `Msg` first).
#[test]
fn sending_bytes_is_sending_the_frame() {
    let long = [7u8; 300];
    let messages: &[&[&[u8]]] = &[
        &[b"a"],
        &[b"b", b"", &long],
        &[b"c"],
        &[&long],
        &[b"d", b"e"],
    ];
    let prepared = |t: SocketType, hwm: usize| {
        let mut h = Harness::new(t);
        match t {
            SocketType::Router => {
                h.attach_id(1, b"one");
                h.attach_id(2, b"two");
            }
            _ => {
                h.attach(1, hwm);
                h.attach(2, hwm);
            }
        }
        if t == SocketType::Pub {
            subscribe_cmd(&mut h, 1, "");
        }
        h
    };
    for t in SocketType::ALL {
        if SocketPattern::new(t).is_err() {
            continue;
        }
        for hwm in [0, 2] {
            let (mut as_msg, mut as_bytes) = (prepared(t, hwm), prepared(t, hwm));
            for frames in messages {
                let frames: Vec<&[u8]> = match t {
                    // A ROUTER's first frame names the peer.
                    SocketType::Router => [&b"two"[..]]
                        .into_iter()
                        .chain(frames.iter().copied())
                        .collect(),
                    _ => frames.to_vec(),
                };
                let sent = as_msg.send(&frames).map_err(|e| e.kind);
                assert_eq!(as_bytes.send_bytes(&frames), sent, "{t:?}, HWM {hwm}");
                // With a HWM the pipes fill up (and sends fail alike), except REQ's.
                if hwm > 0 && t != SocketType::Req {
                    continue;
                }
                for n in [1, 2] {
                    let out = as_msg.out(n);
                    assert_eq!(as_bytes.out(n), out, "{t:?}, HWM {hwm}, pipe {n}");
                    if t == SocketType::Req && !out.is_empty() {
                        // REQ waits for the reply before its next request.
                        for h in [&mut as_msg, &mut as_bytes] {
                            h.push_in(n, [&b""[..], b"ok"]);
                            assert_eq!(h.recv(), Ok(v(&[b"ok"])));
                        }
                    }
                }
            }
            for n in [1, 2] {
                assert_eq!(as_bytes.out(n), as_msg.out(n), "{t:?}, HWM {hwm}, pipe {n}");
            }
        }
    }
}

#[test]
fn options_of_other_socket_types_are_invalid() {
    let cases = [
        (SocketType::Pair, PatternOption::RouterMandatory(true)),
        (SocketType::Push, PatternOption::Subscribe(topic("a"))),
        (SocketType::Pull, PatternOption::ReqRelaxed(true)),
        (SocketType::Dealer, PatternOption::RouterMandatory(true)),
        (SocketType::Router, PatternOption::XpubVerbose(true)),
        (SocketType::XPub, PatternOption::Subscribe(topic("a"))),
        (SocketType::XSub, PatternOption::Subscribe(topic("a"))),
        (SocketType::Sub, PatternOption::XpubVerbose(true)),
        (SocketType::Req, PatternOption::RouterMandatory(true)),
    ];
    for (t, opt) in cases {
        let mut h = Harness::new(t);
        assert_eq!(
            h.set(opt.clone()),
            Err(PatternError::InvalidArgument),
            "{t:?} {opt:?}"
        );
    }
    let ok = [
        (SocketType::Pub, PatternOption::XpubVerbose(true)),
        (SocketType::Rep, PatternOption::RouterMandatory(true)),
        (SocketType::Req, PatternOption::ProbeRouter(true)),
        (SocketType::Dealer, PatternOption::ProbeRouter(true)),
    ];
    for (t, opt) in ok {
        let mut h = Harness::new(t);
        assert_eq!(h.set(opt), Ok(()));
    }
}

// ---------------------------------------------------------------- PAIR

#[test]
fn pair_second_peer_is_terminated() {
    let mut h = Harness::new(SocketType::Pair);
    h.attach(1, 0);
    h.attach(2, 0);
    assert_eq!(h.fp.terminated(), &[p(2)]);
    h.send(&[b"a", b"b"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"a", b"b"])]);
    assert_eq!(h.out(2), Vec::<Vec<Vec<u8>>>::new());
    h.push_in(1, [b"x".as_slice()]);
    h.push_in(2, [b"y".as_slice()]);
    assert!(h.s.has_in(&mut h.fp));
    assert_eq!(h.recv(), Ok(v(&[b"x"])));
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
}

#[test]
fn pair_would_block_without_peer_or_when_full() {
    let mut h = Harness::new(SocketType::Pair);
    let e = h.send(&[b"a"]).expect_err("no peer");
    assert_eq!(
        (e.kind, e.msg.data()),
        (PatternError::WouldBlock, &b"a"[..])
    );
    assert!(!h.s.has_out(&mut h.fp));
    assert!(!h.s.has_in(&mut h.fp));
    h.attach(1, 1);
    assert!(h.s.has_out(&mut h.fp));
    h.send(&[b"a"]).expect("sent");
    assert!(!h.s.has_out(&mut h.fp));
    assert_eq!(
        h.send(&[b"b"]).map_err(|e| e.kind),
        Err(PatternError::WouldBlock)
    );
    // After the peer leaves a new one can attach.
    h.s.pipe_terminated(p(1));
    h.attach(3, 0);
    assert!(h.fp.terminated().is_empty());
    h.send(&[b"c"]).expect("sent");
    assert_eq!(h.out(3), vec![v(&[b"c"])]);
}

// ---------------------------------------------------------------- PUB / XPUB

fn subscribe_cmd(h: &mut Harness, n: u64, t: &str) {
    h.fp.push_in_frame(p(n), Msg::subscribe(t.as_bytes()));
    h.s.read_activated(p(n));
    h.s.has_out(&mut h.fp);
}

fn cancel_cmd(h: &mut Harness, n: u64, t: &str) {
    h.fp.push_in_frame(p(n), Msg::cancel(t.as_bytes()));
    h.s.read_activated(p(n));
    h.s.has_out(&mut h.fp);
}

#[test]
fn pub_sends_whole_multipart_only_to_matching_subscribers() {
    let mut h = Harness::new(SocketType::Pub);
    h.attach(1, 0);
    h.attach(2, 0);
    h.attach(3, 0);
    subscribe_cmd(&mut h, 1, "news");
    subscribe_cmd(&mut h, 2, "");
    subscribe_cmd(&mut h, 3, "sport");
    h.send(&[b"news.today", b"body", b"more"]).expect("sent");
    h.send(&[b"sport", b"x"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"news.today", b"body", b"more"])]);
    assert_eq!(
        h.out(2),
        vec![v(&[b"news.today", b"body", b"more"]), v(&[b"sport", b"x"])]
    );
    assert_eq!(h.out(3), vec![v(&[b"sport", b"x"])]);
}

#[test]
fn pub_send_without_subscribers_succeeds() {
    let mut h = Harness::new(SocketType::Pub);
    h.send(&[b"a"]).expect("dropped, not refused");
    h.attach(1, 0);
    assert!(h.s.has_out(&mut h.fp));
    h.send(&[b"a", b"b"]).expect("dropped");
    assert!(h.out(1).is_empty());
}

#[test]
fn pub_drops_at_hwm_without_blocking() {
    let mut h = Harness::new(SocketType::Pub);
    h.attach(1, 2);
    h.attach(2, 0);
    subscribe_cmd(&mut h, 1, "");
    subscribe_cmd(&mut h, 2, "");
    for i in 0..5u8 {
        h.send(&[&[i], b"part"]).expect("PUB never blocks");
        assert!(h.s.has_out(&mut h.fp));
    }
    assert_eq!(h.out(1).len(), 2);
    assert_eq!(h.out(2).len(), 5);
    // Room again, but only after write_activated does the subscriber get messages.
    h.send(&[b"x"]).expect("sent");
    assert!(h.out(1).is_empty());
    h.s.write_activated(p(1));
    h.send(&[b"y"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"y"])]);
}

#[test]
fn drops_are_counted_by_cause() {
    use crate::DropCounts;
    let mut h = Harness::new(SocketType::Pub);
    h.send(&[b"nobody", b"listens"]).expect("dropped");
    h.attach(1, 2);
    h.attach(2, 0);
    subscribe_cmd(&mut h, 1, "");
    subscribe_cmd(&mut h, 1, "t");
    subscribe_cmd(&mut h, 2, "t");
    for _ in 0..5 {
        h.send(&[b"topic"]).expect("PUB never blocks");
    }
    h.send(&[b"other"])
        .expect("only pipe 1 matches, and it is full");
    // Pipe 1 (HWM 2, matched twice by "" and "t") missed 3 + 1 messages, each counted once.
    assert_eq!(
        h.s.drop_counts(),
        DropCounts {
            hwm: 4,
            unroutable: 0,
            no_subscribers: 1
        }
    );

    let mut h = Harness::new(SocketType::Router);
    h.attach_id(1, b"full");
    h.fp.add(p(2), 1);
    let peer = PeerInfo::new().with_routing_id(Bytes::from_static(b"tiny"));
    h.s.attach(&mut h.fp, p(2), &peer);
    h.send(&[b"nobody", b"x"]).expect("dropped");
    h.send(&[b"tiny", b"1"]).expect("sent");
    h.send(&[b"tiny", b"2"]).expect("dropped at HWM");
    let d = h.s.drop_counts();
    assert_eq!((d.hwm, d.unroutable, d.no_subscribers), (1, 1, 0));
    assert_eq!(
        Harness::new(SocketType::Push).s.drop_counts(),
        DropCounts::default()
    );
}

#[test]
fn pub_reads_zmtp30_subscription_messages() {
    let mut h = Harness::new(SocketType::Pub);
    h.attach(1, 0);
    h.push_in(1, [b"\x01ab".as_slice()]);
    h.push_in(1, [b"\x01cd".as_slice()]);
    h.s.read_activated(p(1));
    h.send(&[b"abx"]).expect("sent");
    h.send(&[b"cdx"]).expect("sent");
    h.send(&[b"efx"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"abx"]), v(&[b"cdx"])]);
    h.push_in(1, [b"\x00ab".as_slice()]);
    // Plain data from a subscriber is dropped by PUB.
    h.push_in(1, [b"hello".as_slice()]);
    h.s.read_activated(p(1));
    h.send(&[b"abx"]).expect("sent");
    assert!(h.out(1).is_empty());
    assert_eq!(h.fp.in_len(p(1)), 0);
}

#[test]
fn pub_subscriptions_queued_before_attach_apply_immediately() {
    let mut h = Harness::new(SocketType::Pub);
    h.fp.add(p(1), 0);
    h.fp.push_in_frame(p(1), Msg::subscribe(b"t"));
    h.s.attach(&mut h.fp, p(1), &PeerInfo::new());
    h.send(&[b"t1"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"t1"])]);
}

#[test]
fn pub_forgets_terminated_subscribers() {
    let mut h = Harness::new(SocketType::Pub);
    h.attach(1, 0);
    h.attach(2, 0);
    subscribe_cmd(&mut h, 1, "");
    subscribe_cmd(&mut h, 2, "");
    h.send(&[b"a"]).expect("sent");
    h.s.pipe_terminated(p(1));
    h.fp.remove(p(1));
    h.send(&[b"b"]).expect("sent");
    assert_eq!(h.out(2), vec![v(&[b"a"]), v(&[b"b"])]);
}

#[test]
fn pub_invert_matching() {
    let mut h = Harness::new(SocketType::Pub);
    h.set(PatternOption::InvertMatching(true)).expect("ok");
    h.attach(1, 0);
    h.attach(2, 0);
    subscribe_cmd(&mut h, 1, "a");
    subscribe_cmd(&mut h, 2, "b");
    h.send(&[b"a1"]).expect("sent");
    assert!(h.out(1).is_empty());
    assert_eq!(h.out(2), vec![v(&[b"a1"])]);
}

#[test]
fn xpub_passes_first_subscribe_and_last_unsubscribe() {
    let mut h = Harness::new(SocketType::XPub);
    h.attach(1, 0);
    h.attach(2, 0);
    assert!(!h.s.has_in(&mut h.fp));
    subscribe_cmd(&mut h, 1, "a");
    subscribe_cmd(&mut h, 2, "a");
    h.push_in(2, [b"\x01b".as_slice()]);
    h.s.read_activated(p(2));
    assert!(h.s.has_in(&mut h.fp));
    assert_eq!(h.recv(), Ok(v(&[b"\x01a"])));
    assert_eq!(h.recv(), Ok(v(&[b"\x01b"])));
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
    cancel_cmd(&mut h, 1, "a");
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
    cancel_cmd(&mut h, 2, "a");
    assert_eq!(h.recv(), Ok(v(&[b"\x00a"])));
    // libzmq also passes up the cancel of a topic nobody subscribed to.
    cancel_cmd(&mut h, 2, "zz");
    assert_eq!(h.recv(), Ok(v(&[b"\x00zz"])));
}

#[test]
fn xpub_verbose_passes_every_subscribe_but_only_last_unsubscribe() {
    let mut h = Harness::new(SocketType::XPub);
    h.set(PatternOption::XpubVerbose(true)).expect("ok");
    h.attach(1, 0);
    h.attach(2, 0);
    subscribe_cmd(&mut h, 1, "a");
    subscribe_cmd(&mut h, 2, "a");
    assert_eq!(h.recv(), Ok(v(&[b"\x01a"])));
    assert_eq!(h.recv(), Ok(v(&[b"\x01a"])));
    cancel_cmd(&mut h, 1, "a");
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
    cancel_cmd(&mut h, 2, "a");
    assert_eq!(h.recv(), Ok(v(&[b"\x00a"])));
}

#[test]
fn xpub_verboser_passes_every_unsubscribe() {
    let mut h = Harness::new(SocketType::XPub);
    h.set(PatternOption::XpubVerboser(true)).expect("ok");
    h.attach(1, 0);
    h.attach(2, 0);
    subscribe_cmd(&mut h, 1, "a");
    subscribe_cmd(&mut h, 2, "a");
    cancel_cmd(&mut h, 1, "a");
    assert_eq!(h.recv(), Ok(v(&[b"\x01a"])));
    assert_eq!(h.recv(), Ok(v(&[b"\x01a"])));
    assert_eq!(h.recv(), Ok(v(&[b"\x00a"])));
    // A terminated pipe reports all its topics, not only orphaned ones.
    subscribe_cmd(&mut h, 1, "b");
    subscribe_cmd(&mut h, 1, "a");
    assert_eq!(h.recv(), Ok(v(&[b"\x01b"])));
    assert_eq!(h.recv(), Ok(v(&[b"\x01a"])));
    h.s.pipe_terminated(p(1));
    assert_eq!(h.recv(), Ok(v(&[b"\x00a"])));
    assert_eq!(h.recv(), Ok(v(&[b"\x00b"])));
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
}

#[test]
fn xpub_reports_orphaned_topics_when_a_subscriber_leaves() {
    let mut h = Harness::new(SocketType::XPub);
    h.attach(1, 0);
    h.attach(2, 0);
    subscribe_cmd(&mut h, 1, "a");
    subscribe_cmd(&mut h, 1, "b");
    subscribe_cmd(&mut h, 2, "a");
    assert_eq!(h.recv(), Ok(v(&[b"\x01a"])));
    assert_eq!(h.recv(), Ok(v(&[b"\x01b"])));
    h.s.pipe_terminated(p(1));
    h.fp.remove(p(1));
    assert_eq!(h.recv(), Ok(v(&[b"\x00b"])));
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
    h.send(&[b"a"]).expect("sent");
    assert_eq!(h.out(2), vec![v(&[b"a"])]);
}

#[test]
fn xpub_passes_upstream_messages_whole() {
    let mut h = Harness::new(SocketType::XPub);
    h.attach(1, 0);
    h.push_in(1, [b"up".as_slice(), b"stream"]);
    h.push_in(1, [b"".as_slice()]);
    h.s.read_activated(p(1));
    assert_eq!(h.recv(), Ok(v(&[b"up", b"stream"])));
    assert_eq!(h.recv(), Ok(v(&[b""])));
}

#[test]
fn xpub_nodrop_would_block_at_hwm() {
    let mut h = Harness::new(SocketType::XPub);
    h.set(PatternOption::XpubNoDrop(true)).expect("ok");
    h.attach(1, 1);
    subscribe_cmd(&mut h, 1, "");
    h.send(&[b"a"]).expect("sent");
    let e = h.send(&[b"b"]).expect_err("full");
    assert_eq!(
        (e.kind, e.msg.data()),
        (PatternError::WouldBlock, &b"b"[..])
    );
    h.fp.take_out(p(1));
    h.s.write_activated(p(1));
    h.send(&[b"b"]).expect("sent");
}

#[test]
fn xpub_welcome_message_goes_to_new_subscribers() {
    let mut h = Harness::new(SocketType::XPub);
    h.set(PatternOption::XpubWelcomeMsg(topic("hi")))
        .expect("ok");
    h.attach(1, 0);
    assert_eq!(h.out(1), vec![v(&[b"hi"])]);
}

// ---------------------------------------------------------------- SUB / XSUB

#[test]
fn sub_subscriptions_go_to_every_publisher_and_cancel_only_on_last_count() {
    let mut h = Harness::new(SocketType::Sub);
    h.attach(1, 0);
    h.attach(2, 0);
    h.set(PatternOption::Subscribe(topic("a"))).expect("ok");
    h.set(PatternOption::Subscribe(topic("a"))).expect("ok");
    for n in [1, 2] {
        let out = h.fp.take_out(p(n));
        // libzmq forwards every subscribe (XPUB deduplicates).
        assert_eq!(out, vec![Msg::subscribe(b"a"), Msg::subscribe(b"a")]);
    }
    h.set(PatternOption::Unsubscribe(topic("a"))).expect("ok");
    assert!(h.fp.take_out(p(1)).is_empty());
    h.set(PatternOption::Unsubscribe(topic("a"))).expect("ok");
    assert_eq!(h.fp.take_out(p(1)), vec![Msg::cancel(b"a")]);
    assert_eq!(h.fp.take_out(p(2)), vec![Msg::cancel(b"a")]);
    h.set(PatternOption::Unsubscribe(topic("a"))).expect("ok");
    assert!(h.fp.take_out(p(1)).is_empty());
}

#[test]
fn sub_sends_current_subscriptions_to_a_new_publisher() {
    let mut h = Harness::new(SocketType::Sub);
    h.set(PatternOption::Subscribe(topic("b"))).expect("ok");
    h.set(PatternOption::Subscribe(topic("a"))).expect("ok");
    h.set(PatternOption::Subscribe(topic("a"))).expect("ok");
    h.attach(1, 0);
    assert_eq!(
        h.fp.take_out(p(1)),
        vec![Msg::subscribe(b"a"), Msg::subscribe(b"b")]
    );
}

#[test]
fn sub_filters_whole_multipart_messages() {
    let mut h = Harness::new(SocketType::Sub);
    h.attach(1, 0);
    h.set(PatternOption::Subscribe(topic("yes"))).expect("ok");
    h.push_in(1, [b"no".as_slice(), b"yes-but-second-frame"]);
    h.push_in(1, [b"yes.1".as_slice(), b"no-in-second-frame", b"3"]);
    h.push_in(1, [b"nope".as_slice()]);
    h.push_in(1, [b"yes.2".as_slice()]);
    assert_eq!(h.recv(), Ok(v(&[b"yes.1", b"no-in-second-frame", b"3"])));
    assert!(h.s.has_in(&mut h.fp));
    assert_eq!(h.recv(), Ok(v(&[b"yes.2"])));
    assert!(!h.s.has_in(&mut h.fp));
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
}

#[test]
fn sub_without_subscription_receives_nothing() {
    let mut h = Harness::new(SocketType::Sub);
    h.attach(1, 0);
    h.push_in(1, [b"a".as_slice()]);
    assert!(!h.s.has_in(&mut h.fp));
    assert_eq!(h.fp.in_len(p(1)), 0);
}

#[test]
fn sub_has_in_skips_non_matching_messages() {
    let mut h = Harness::new(SocketType::Sub);
    h.attach(1, 0);
    h.set(PatternOption::Subscribe(topic("k"))).expect("ok");
    h.push_in(1, [b"x".as_slice(), b"y"]);
    h.push_in(1, [b"k1".as_slice(), b"z"]);
    assert!(h.s.has_in(&mut h.fp));
    assert_eq!(h.recv(), Ok(v(&[b"k1", b"z"])));
}

#[test]
fn sub_subscription_dropped_for_a_full_publisher() {
    let mut h = Harness::new(SocketType::Sub);
    h.attach(1, 1);
    h.set(PatternOption::Subscribe(topic("a"))).expect("ok");
    h.set(PatternOption::Subscribe(topic("b"))).expect("ok");
    assert_eq!(h.fp.take_out(p(1)), vec![Msg::subscribe(b"a")]);
}

#[test]
fn xsub_forwards_subscriptions_and_upstream_messages() {
    let mut h = Harness::new(SocketType::XSub);
    h.attach(1, 0);
    h.attach(2, 0);
    h.send(&[b"\x01a"]).expect("sent");
    h.send(&[b"\x01a"]).expect("sent");
    h.send(&[b"\x00a"]).expect("sent");
    h.send(&[b"\x00a"]).expect("sent");
    h.send(&[b"\x00never"]).expect("dropped");
    h.send(&[b"hello", b"world"]).expect("sent");
    for n in [1, 2] {
        assert_eq!(
            h.out(n),
            vec![
                v(&[b"\x01a"]),
                v(&[b"\x01a"]),
                v(&[b"\x00a"]),
                v(&[b"hello", b"world"])
            ]
        );
    }
    assert!(h.s.has_out(&mut h.fp));
}

#[test]
fn xsub_resends_subscriptions_on_attach() {
    let mut h = Harness::new(SocketType::XSub);
    h.send(&[b"\x01t1"]).expect("sent");
    h.send(&[b"\x01t2"]).expect("sent");
    h.send(&[b"\x00t1"]).expect("sent");
    h.attach(1, 0);
    assert_eq!(h.fp.take_out(p(1)), vec![Msg::subscribe(b"t2")]);
}

#[test]
fn xsub_does_not_filter() {
    let mut h = Harness::new(SocketType::XSub);
    h.attach(1, 0);
    h.push_in(1, [b"anything".as_slice(), b"x"]);
    assert!(h.s.has_in(&mut h.fp));
    assert_eq!(h.recv(), Ok(v(&[b"anything", b"x"])));
}

#[test]
fn xsub_to_xpub_counts_subscriptions_per_pipe() {
    // An XSUB forwarding two subscribes then one cancel leaves the XPUB with no subscriber,
    // as libzmq's per-pipe subscription sets do.
    let mut h = Harness::new(SocketType::XPub);
    h.attach(1, 0);
    h.push_in(1, [b"\x01a".as_slice()]);
    h.push_in(1, [b"\x01a".as_slice()]);
    h.push_in(1, [b"\x00a".as_slice()]);
    h.s.read_activated(p(1));
    assert_eq!(h.recv(), Ok(v(&[b"\x01a"])));
    assert_eq!(h.recv(), Ok(v(&[b"\x00a"])));
    h.send(&[b"a"]).expect("sent");
    assert!(h.out(1).is_empty());
}

// ---------------------------------------------------------------- REQ

#[test]
fn req_sends_delimiter_and_returns_reply_body() {
    let mut h = Harness::new(SocketType::Req);
    h.attach(1, 0);
    h.send(&[b"hello", b"world"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"", b"hello", b"world"])]);
    assert!(!h.s.has_in(&mut h.fp));
    h.push_in(1, [b"".as_slice(), b"re", b"ply"]);
    h.s.read_activated(p(1));
    assert!(h.s.has_in(&mut h.fp));
    assert_eq!(h.recv(), Ok(v(&[b"re", b"ply"])));
    assert!(h.s.has_out(&mut h.fp));
    assert!(!h.s.has_in(&mut h.fp));
}

#[test]
fn req_enforces_alternation() {
    let mut h = Harness::new(SocketType::Req);
    h.attach(1, 0);
    assert_eq!(h.recv(), Err(PatternError::Fsm));
    h.send(&[b"a"]).expect("sent");
    let e = h.send(&[b"b"]).expect_err("EFSM");
    assert_eq!((e.kind, e.msg.data()), (PatternError::Fsm, &b"b"[..]));
    assert!(!h.s.has_out(&mut h.fp));
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
    // Mid-request (MORE sent) it is still not time to receive.
    let mut h = Harness::new(SocketType::Req);
    h.attach(1, 0);
    h.s.send(&mut h.fp, Msg::from("part").with_more(true))
        .expect("sent");
    assert_eq!(h.recv(), Err(PatternError::Fsm));
}

#[test]
fn req_would_block_without_peer_and_keeps_state() {
    let mut h = Harness::new(SocketType::Req);
    let e = h.send(&[b"a"]).expect_err("no peer");
    assert_eq!(
        (e.kind, e.msg.data()),
        (PatternError::WouldBlock, &b"a"[..])
    );
    assert_eq!(h.recv(), Err(PatternError::Fsm));
    h.attach(1, 0);
    h.send(&[b"a"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"", b"a"])]);
}

#[test]
fn req_load_balances_requests() {
    let mut h = Harness::new(SocketType::Req);
    h.attach(1, 0);
    h.attach(2, 0);
    let mut who = Vec::new();
    for _ in 0..4 {
        h.send(&[b"q"]).expect("sent");
        let n = if h.fp.out_len(p(1)) > 0 { 1 } else { 2 };
        who.push(n);
        h.fp.take_out(p(n));
        h.push_in(n, [b"".as_slice(), b"r"]);
        h.s.read_activated(p(n));
        assert_eq!(h.recv(), Ok(v(&[b"r"])));
    }
    assert_eq!(who.iter().filter(|&&n| n == 1).count(), 2);
}

#[test]
fn req_drops_replies_from_other_pipes() {
    let mut h = Harness::new(SocketType::Req);
    h.attach(1, 0);
    h.attach(2, 0);
    h.send(&[b"q"]).expect("sent");
    let (to, other) = if h.fp.out_len(p(1)) > 0 {
        (1, 2)
    } else {
        (2, 1)
    };
    h.push_in(other, [b"".as_slice(), b"wrong", b"pipe"]);
    h.s.read_activated(p(other));
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
    assert_eq!(h.fp.in_len(p(other)), 0);
    h.push_in(to, [b"".as_slice(), b"right"]);
    h.s.read_activated(p(to));
    assert_eq!(h.recv(), Ok(v(&[b"right"])));
}

#[test]
fn req_drops_replies_without_delimiter() {
    let mut h = Harness::new(SocketType::Req);
    h.attach(1, 0);
    h.send(&[b"q"]).expect("sent");
    h.push_in(1, [b"no-delimiter".as_slice(), b"x"]);
    h.push_in(1, [b"".as_slice()]);
    h.push_in(1, [b"".as_slice(), b"good"]);
    assert_eq!(h.recv(), Ok(v(&[b"good"])));
}

#[test]
fn req_drops_stale_replies_when_sending_a_new_request() {
    let mut h = Harness::new(SocketType::Req);
    h.set(PatternOption::ReqRelaxed(true)).expect("ok");
    h.attach(1, 0);
    h.send(&[b"q1"]).expect("sent");
    // Relaxed: a new request is allowed before the reply.
    h.send(&[b"q2"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"", b"q1"]), v(&[b"", b"q2"])]);
    h.push_in(1, [b"".as_slice(), b"r2"]);
    assert_eq!(h.recv(), Ok(v(&[b"r2"])));
    // A late reply sitting in the pipe is eaten when the next request starts.
    h.push_in(1, [b"".as_slice(), b"late"]);
    h.send(&[b"q3"]).expect("sent");
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
    h.push_in(1, [b"".as_slice(), b"r3"]);
    assert_eq!(h.recv(), Ok(v(&[b"r3"])));
}

#[test]
fn req_correlate_matches_request_ids() {
    let mut h = Harness::new(SocketType::Req);
    h.set(PatternOption::ReqCorrelate(true)).expect("ok");
    h.set(PatternOption::ReqRelaxed(true)).expect("ok");
    h.attach(1, 0);
    h.send(&[b"q1"]).expect("sent");
    let m1 = h.out(1).remove(0);
    h.send(&[b"q2"]).expect("sent");
    let m2 = h.out(1).remove(0);
    assert_eq!(m1[0].len(), 4);
    assert_eq!((&m1[1], &m1[2]), (&Vec::new(), &b"q1".to_vec()));
    assert_ne!(m1[0], m2[0]);
    h.push_in(1, [m1[0].as_slice(), b"", b"old"]);
    h.push_in(1, [m2[0].as_slice(), b"", b"new"]);
    assert_eq!(h.recv(), Ok(v(&[b"new"])));
}

#[test]
fn req_takes_reply_from_any_pipe_once_its_peer_left() {
    // libzmq clears the reply pipe when it terminates, after which any reply is accepted.
    let mut h = Harness::new(SocketType::Req);
    h.attach(1, 0);
    h.attach(2, 0);
    h.send(&[b"q"]).expect("sent");
    let (to, other) = if h.fp.out_len(p(1)) > 0 {
        (1, 2)
    } else {
        (2, 1)
    };
    h.s.pipe_terminated(p(to));
    h.push_in(other, [b"".as_slice(), b"r"]);
    assert_eq!(h.recv(), Ok(v(&[b"r"])));
}

// ---------------------------------------------------------------- REP

#[test]
fn rep_restores_multi_hop_envelope() {
    let mut h = Harness::new(SocketType::Rep);
    h.attach(1, 0);
    h.push_in(1, [b"hop1".as_slice(), b"hop2", b"", b"req", b"body"]);
    assert!(h.s.has_in(&mut h.fp));
    assert!(!h.s.has_out(&mut h.fp));
    assert_eq!(h.recv(), Ok(v(&[b"req", b"body"])));
    assert!(h.s.has_out(&mut h.fp));
    assert!(!h.s.has_in(&mut h.fp));
    // Nothing is visible to the peer before the reply is complete.
    assert_eq!(h.fp.out_len(p(1)), 0);
    h.send(&[b"rep", b"ly"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"hop1", b"hop2", b"", b"rep", b"ly"])]);
}

#[test]
fn rep_enforces_alternation() {
    let mut h = Harness::new(SocketType::Rep);
    h.attach(1, 0);
    let e = h.send(&[b"x"]).expect_err("EFSM");
    assert_eq!((e.kind, e.msg.data()), (PatternError::Fsm, &b"x"[..]));
    h.push_in(1, [b"".as_slice(), b"q"]);
    assert_eq!(h.recv(), Ok(v(&[b"q"])));
    assert_eq!(h.recv(), Err(PatternError::Fsm));
    h.send(&[b"r"]).expect("sent");
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
}

#[test]
fn rep_replies_to_the_right_peer() {
    let mut h = Harness::new(SocketType::Rep);
    h.attach(1, 0);
    h.attach(2, 0);
    h.push_in(1, [b"".as_slice(), b"from1"]);
    h.push_in(2, [b"".as_slice(), b"from2"]);
    for _ in 0..2 {
        let req = h.recv().expect("request");
        h.send(&[b"re:", &req[0]]).expect("sent");
    }
    assert_eq!(h.out(1), vec![v(&[b"", b"re:", b"from1"])]);
    assert_eq!(h.out(2), vec![v(&[b"", b"re:", b"from2"])]);
}

#[test]
fn rep_drops_malformed_requests() {
    let mut h = Harness::new(SocketType::Rep);
    h.attach(1, 0);
    h.push_in(1, [b"no".as_slice(), b"delimiter"]);
    h.push_in(1, [b"".as_slice()]);
    h.push_in(1, [b"id".as_slice(), b"", b"ok"]);
    assert_eq!(h.recv(), Ok(v(&[b"ok"])));
    h.send(&[b"r"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"id", b"", b"r"])]);
}

#[test]
fn rep_reply_to_a_gone_peer_is_dropped() {
    let mut h = Harness::new(SocketType::Rep);
    h.attach(1, 0);
    h.attach(2, 0);
    h.push_in(1, [b"".as_slice(), b"q"]);
    assert_eq!(h.recv(), Ok(v(&[b"q"])));
    h.s.pipe_terminated(p(1));
    h.fp.remove(p(1));
    h.send(&[b"r", b"2"]).expect("silently dropped");
    assert!(h.out(2).is_empty());
    h.push_in(2, [b"".as_slice(), b"q2"]);
    assert_eq!(h.recv(), Ok(v(&[b"q2"])));
    h.send(&[b"r2"]).expect("sent");
    assert_eq!(h.out(2), vec![v(&[b"", b"r2"])]);
}

// ---------------------------------------------------------------- DEALER / PUSH / PULL

#[test]
fn dealer_load_balances_and_fair_queues_without_envelopes() {
    let mut h = Harness::new(SocketType::Dealer);
    h.attach(1, 0);
    h.attach(2, 0);
    h.send(&[b"a", b"1"]).expect("sent");
    h.send(&[b"b"]).expect("sent");
    let mut all = h.out(1);
    all.extend(h.out(2));
    all.sort();
    assert_eq!(all, vec![v(&[b"a", b"1"]), v(&[b"b"])]);
    h.push_in(1, [b"x".as_slice(), b"y"]);
    h.push_in(2, [b"z".as_slice()]);
    let mut got = vec![h.recv().expect("1"), h.recv().expect("2")];
    got.sort();
    assert_eq!(got, vec![v(&[b"x", b"y"]), v(&[b"z"])]);
}

#[test]
fn dealer_probe_router_sends_empty_message_on_attach() {
    let mut h = Harness::new(SocketType::Dealer);
    h.set(PatternOption::ProbeRouter(true)).expect("ok");
    h.attach(1, 0);
    assert_eq!(h.out(1), vec![v(&[b""])]);
}

#[test]
fn push_blocks_when_every_peer_is_full() {
    let mut h = Harness::new(SocketType::Push);
    h.attach(1, 1);
    h.send(&[b"a"]).expect("sent");
    assert!(!h.s.has_out(&mut h.fp));
    let e = h.send(&[b"b"]).expect_err("full");
    assert_eq!(e.kind, PatternError::WouldBlock);
    h.fp.take_out(p(1));
    h.s.write_activated(p(1));
    assert!(h.s.has_out(&mut h.fp));
    h.send(&[b"b"]).expect("sent");
}

#[test]
fn pull_fair_queues() {
    let mut h = Harness::new(SocketType::Pull);
    h.attach(1, 0);
    h.attach(2, 0);
    h.push_in(1, [b"1a".as_slice()]);
    h.push_in(1, [b"1b".as_slice()]);
    h.push_in(2, [b"2a".as_slice()]);
    assert!(h.s.has_in(&mut h.fp));
    assert_eq!(h.recv(), Ok(v(&[b"1a"])));
    assert_eq!(h.recv(), Ok(v(&[b"2a"])));
    assert_eq!(h.recv(), Ok(v(&[b"1b"])));
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
}

// ---------------------------------------------------------------- ROUTER

fn router_with_seed(seed: u32) -> Harness {
    Harness {
        s: SocketPattern::Router(crate::sockets::Router::with_seed(seed)),
        fp: FakePipes::new(),
    }
}

#[test]
fn router_prefixes_routing_ids() {
    let mut h = router_with_seed(0x0000_00fe);
    h.attach_id(1, b"alice");
    h.attach(2, 0);
    h.attach_id(3, b"");
    h.push_in(1, [b"hi".as_slice(), b"there"]);
    assert_eq!(h.recv(), Ok(v(&[b"alice", b"hi", b"there"])));
    h.push_in(2, [b"x".as_slice()]);
    assert_eq!(h.recv(), Ok(v(&[&[0, 0, 0, 0, 0xfe], b"x"])));
    h.push_in(3, [b"y".as_slice()]);
    assert_eq!(h.recv(), Ok(v(&[&[0, 0, 0, 0, 0xff], b"y"])));
    assert!(h.s.routing_id_in_use(b"alice"));
    assert!(!h.s.routing_id_in_use(b"bob"));
}

#[test]
fn router_routes_by_id_and_drops_unroutable() {
    let mut h = Harness::new(SocketType::Router);
    h.attach_id(1, b"A");
    h.attach_id(2, b"B");
    h.send(&[b"B", b"to", b"b"]).expect("sent");
    h.send(&[b"nobody", b"lost"]).expect("silently dropped");
    // A routing id alone, without MORE, is ignored.
    h.send(&[b"A"]).expect("ignored");
    h.send(&[b"A", b"to a"]).expect("sent");
    assert_eq!(h.out(2), vec![v(&[b"to", b"b"])]);
    assert_eq!(h.out(1), vec![v(&[b"to a"])]);
}

#[test]
fn router_mandatory_reports_unroutable_and_full() {
    let mut h = Harness::new(SocketType::Router);
    h.set(PatternOption::RouterMandatory(true)).expect("ok");
    h.fp.add(p(1), 1);
    h.s.attach(
        &mut h.fp,
        p(1),
        &PeerInfo::new().with_routing_id(topic("A")),
    );
    let e = h.send(&[b"nobody", b"x"]).expect_err("unroutable");
    assert_eq!(
        (e.kind, e.msg.data()),
        (PatternError::HostUnreachable, &b"nobody"[..])
    );
    assert!(h.s.has_out(&mut h.fp));
    h.send(&[b"A", b"1"]).expect("sent");
    assert!(!h.s.has_out(&mut h.fp));
    let e = h.send(&[b"A", b"2"]).expect_err("full");
    assert_eq!(
        (e.kind, e.msg.data()),
        (PatternError::WouldBlock, &b"A"[..])
    );
    assert_eq!(h.out(1), vec![v(&[b"1"])]);
    h.send(&[b"A", b"2"]).expect("room again");
    assert_eq!(h.out(1), vec![v(&[b"2"])]);
}

#[test]
fn router_without_mandatory_drops_for_full_pipes() {
    let mut h = Harness::new(SocketType::Router);
    h.fp.add(p(1), 1);
    h.s.attach(
        &mut h.fp,
        p(1),
        &PeerInfo::new().with_routing_id(topic("A")),
    );
    h.send(&[b"A", b"1"]).expect("sent");
    h.send(&[b"A", b"2", b"3"]).expect("dropped");
    assert!(h.s.has_out(&mut h.fp));
    assert_eq!(h.out(1), vec![v(&[b"1"])]);
}

#[test]
fn router_ignores_a_peer_with_a_duplicate_id() {
    let mut h = Harness::new(SocketType::Router);
    h.attach_id(1, b"A");
    h.attach_id(2, b"A");
    assert!(h.fp.terminated().is_empty());
    h.push_in(2, [b"ignored".as_slice()]);
    h.s.read_activated(p(2));
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
    h.send(&[b"A", b"x"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"x"])]);
    assert!(h.out(2).is_empty());
    h.s.pipe_terminated(p(2));
    h.s.pipe_terminated(p(1));
    h.attach_id(3, b"A");
    h.send(&[b"A", b"y"]).expect("sent");
    assert_eq!(h.out(3), vec![v(&[b"y"])]);
}

#[test]
fn router_handover_gives_the_id_to_the_new_peer() {
    let mut h = Harness::new(SocketType::Router);
    h.set(PatternOption::RouterHandover(true)).expect("ok");
    h.attach_id(1, b"A");
    h.attach_id(2, b"A");
    assert_eq!(h.fp.terminated(), &[p(1)]);
    h.send(&[b"A", b"x"]).expect("sent");
    assert_eq!(h.out(2), vec![v(&[b"x"])]);
    assert!(h.out(1).is_empty());
}

#[test]
fn router_handover_waits_for_the_message_being_read() {
    let mut h = Harness::new(SocketType::Router);
    h.set(PatternOption::RouterHandover(true)).expect("ok");
    h.attach_id(1, b"A");
    h.push_in(1, [b"m1".as_slice(), b"m2"]);
    assert_eq!(
        h.s.recv(&mut h.fp).map(|m| m.data().to_vec()),
        Ok(b"A".to_vec())
    );
    h.attach_id(2, b"A");
    assert!(h.fp.terminated().is_empty());
    assert_eq!(
        h.s.recv(&mut h.fp).map(|m| m.data().to_vec()),
        Ok(b"m1".to_vec())
    );
    assert_eq!(
        h.s.recv(&mut h.fp).map(|m| m.data().to_vec()),
        Ok(b"m2".to_vec())
    );
    assert_eq!(h.fp.terminated(), &[p(1)]);
}

#[test]
fn router_has_in_reads_ahead_without_losing_the_message() {
    let mut h = Harness::new(SocketType::Router);
    h.attach_id(1, b"A");
    assert!(!h.s.has_in(&mut h.fp));
    h.push_in(1, [b"x".as_slice()]);
    h.s.read_activated(p(1));
    assert!(h.s.has_in(&mut h.fp));
    assert!(h.s.has_in(&mut h.fp));
    assert_eq!(h.recv(), Ok(v(&[b"A", b"x"])));
    assert!(!h.s.has_in(&mut h.fp));
}

#[test]
fn router_probe_sends_empty_message() {
    let mut h = Harness::new(SocketType::Router);
    h.set(PatternOption::ProbeRouter(true)).expect("ok");
    h.attach_id(1, b"A");
    assert_eq!(h.out(1), vec![v(&[b""])]);
}

// ---------------------------------------------------------------- end to end

/// Moves every flushed frame written by `a` on `pa` into `b`'s pipe `pb`.
fn pump(a: &mut Harness, pa: u64, b: &mut Harness, pb: u64) {
    for f in a.fp.take_out(p(pa)) {
        b.fp.push_in_frame(p(pb), f);
    }
    b.s.read_activated(p(pb));
}

#[test]
fn req_dealer_router_rep_chain() {
    // REQ -> ROUTER|DEALER (a broker) -> REP and back: the envelope grows and shrinks.
    let mut req = Harness::new(SocketType::Req);
    let mut front = Harness::new(SocketType::Router);
    let mut back = Harness::new(SocketType::Dealer);
    let mut rep = Harness::new(SocketType::Rep);
    req.attach(1, 0);
    front.attach_id(1, b"client");
    back.attach(1, 0);
    rep.attach(1, 0);
    req.send(&[b"ping"]).expect("sent");
    pump(&mut req, 1, &mut front, 1);
    let m = front.recv().expect("request");
    assert_eq!(m, v(&[b"client", b"", b"ping"]));
    let frames: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
    back.send(&frames).expect("sent");
    pump(&mut back, 1, &mut rep, 1);
    assert_eq!(rep.recv(), Ok(v(&[b"ping"])));
    rep.send(&[b"pong"]).expect("sent");
    pump(&mut rep, 1, &mut back, 1);
    let m = back.recv().expect("reply");
    assert_eq!(m, v(&[b"client", b"", b"pong"]));
    let frames: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
    front.send(&frames).expect("sent");
    pump(&mut front, 1, &mut req, 1);
    assert_eq!(req.recv(), Ok(v(&[b"pong"])));
}

#[test]
fn sub_xpub_xsub_pub_chain_forwards_subscriptions() {
    let mut sub = Harness::new(SocketType::Sub);
    let mut xpub = Harness::new(SocketType::XPub);
    let mut xsub = Harness::new(SocketType::XSub);
    let mut publ = Harness::new(SocketType::Pub);
    sub.attach(1, 0);
    xpub.attach(1, 0);
    xsub.attach(1, 0);
    publ.attach(1, 0);
    sub.set(PatternOption::Subscribe(topic("w"))).expect("ok");
    pump(&mut sub, 1, &mut xpub, 1);
    let s = xpub.recv().expect("subscription");
    assert_eq!(s, v(&[b"\x01w"]));
    xsub.send(&[&s[0]]).expect("forwarded");
    pump(&mut xsub, 1, &mut publ, 1);
    publ.send(&[b"weather", b"sunny"]).expect("sent");
    publ.send(&[b"traffic", b"jam"]).expect("sent");
    pump(&mut publ, 1, &mut xsub, 1);
    while let Ok(m) = xsub.recv() {
        let frames: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
        xpub.send(&frames).expect("sent");
    }
    pump(&mut xpub, 1, &mut sub, 1);
    assert_eq!(sub.recv(), Ok(v(&[b"weather", b"sunny"])));
    assert_eq!(sub.recv(), Err(PatternError::WouldBlock));
}

#[test]
fn sub_hiccup_resends_subscriptions_and_topics_are_counted() {
    let mut h = Harness::new(SocketType::Sub);
    h.attach(1, 0);
    h.set(PatternOption::Subscribe(topic("a"))).expect("ok");
    h.set(PatternOption::Subscribe(topic("b"))).expect("ok");
    assert_eq!(h.s.topics_count(), Some(2));
    h.fp.take_out(p(1));
    h.s.hiccuped(&mut h.fp, p(1));
    assert_eq!(
        h.fp.take_out(p(1)),
        vec![Msg::subscribe(b"a"), Msg::subscribe(b"b")]
    );
    let mut x = Harness::new(SocketType::XPub);
    x.attach(1, 0);
    subscribe_cmd(&mut x, 1, "t");
    assert_eq!(x.s.topics_count(), Some(1));
    assert_eq!(Harness::new(SocketType::Req).s.topics_count(), None);
}

#[test]
fn xpub_manual_reports_and_lets_the_application_subscribe() {
    let mut h = Harness::new(SocketType::XPub);
    h.set(PatternOption::XpubManual(true)).expect("ok");
    assert_eq!(h.set(PatternOption::Subscribe(topic("x"))), Ok(()));
    h.attach(1, 0);
    h.attach(2, 0);
    subscribe_cmd(&mut h, 1, "a");
    subscribe_cmd(&mut h, 2, "a");
    // Every subscription is reported, duplicates included, and none is applied.
    assert_eq!(h.recv(), Ok(v(&[b"\x01a"])));
    h.send(&[b"a1"]).expect("sent");
    assert!(h.out(1).is_empty());
    // The application subscribes pipe 1 (the sender of the last notification) to "b".
    h.set(PatternOption::Subscribe(topic("b"))).expect("ok");
    assert_eq!(h.recv(), Ok(v(&[b"\x01a"])));
    h.set(PatternOption::Subscribe(topic("a"))).expect("ok");
    h.send(&[b"b1"]).expect("sent");
    h.send(&[b"a2"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"b1"])]);
    assert_eq!(h.out(2), vec![v(&[b"a2"])]);
    // Termination reports the pipe's manual subscriptions.
    h.s.pipe_terminated(p(2));
    assert_eq!(h.recv(), Ok(v(&[b"\x00a"])));
}

#[test]
fn xpub_manual_last_value_sends_first_message_to_the_new_subscriber_only() {
    let mut h = Harness::new(SocketType::XPub);
    h.set(PatternOption::XpubManualLastValue(true)).expect("ok");
    h.attach(1, 0);
    h.attach(2, 0);
    subscribe_cmd(&mut h, 1, "t");
    assert_eq!(h.recv(), Ok(v(&[b"\x01t"])));
    h.set(PatternOption::Subscribe(topic("t"))).expect("ok");
    subscribe_cmd(&mut h, 2, "t");
    assert_eq!(h.recv(), Ok(v(&[b"\x01t"])));
    h.set(PatternOption::Subscribe(topic("t"))).expect("ok");
    h.send(&[b"t-cached"]).expect("sent");
    h.send(&[b"t-live"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"t-live"])]);
    assert_eq!(h.out(2), vec![v(&[b"t-cached"]), v(&[b"t-live"])]);
}

#[test]
fn xpub_checks_every_frame_unless_only_first_subscribe() {
    let mut h = Harness::new(SocketType::XPub);
    h.attach(1, 0);
    h.push_in(1, [b"data".as_slice(), b"\x01t"]);
    assert_eq!(h.recv(), Ok(v(&[b"data", b"\x01t"])));
    assert_eq!(h.s.topics_count(), Some(1));

    let mut h = Harness::new(SocketType::XPub);
    h.set(PatternOption::OnlyFirstSubscribe(true)).expect("ok");
    h.attach(1, 0);
    h.push_in(1, [b"data".as_slice(), b"\x01t"]);
    assert_eq!(h.recv(), Ok(v(&[b"data", b"\x01t"])));
    assert_eq!(h.s.topics_count(), Some(0));
}

#[test]
fn xsub_only_first_subscribe_forwards_later_frames_as_data() {
    let mut h = Harness::new(SocketType::XSub);
    h.set(PatternOption::OnlyFirstSubscribe(true)).expect("ok");
    h.attach(1, 0);
    h.send(&[b"data", b"\x00never"]).expect("sent");
    assert_eq!(h.out(1), vec![v(&[b"data", b"\x00never"])]);
    assert_eq!(
        Harness::new(SocketType::Sub).set(PatternOption::OnlyFirstSubscribe(true)),
        Err(PatternError::InvalidArgument)
    );
}

#[test]
fn xsub_forwards_every_unsubscribe_only_when_verbose() {
    for verbose in [false, true] {
        let mut h = Harness::new(SocketType::XSub);
        h.set(PatternOption::XsubVerboseUnsubscribe(verbose))
            .expect("ok");
        h.attach(1, 0);
        h.send(&[b"\x01t"]).expect("sent");
        h.send(&[b"\x01t"]).expect("sent");
        // The first cancel leaves one count; the second removes the topic; the third names a
        // topic no longer subscribed.
        for _ in 0..3 {
            h.send(&[b"\x00t"]).expect("sent");
        }
        let cancels = h.out(1).iter().filter(|m| m[0] == b"\x00t").count();
        assert_eq!(cancels, if verbose { 3 } else { 1 }, "verbose={verbose}");
        assert_eq!(h.s.topics_count(), Some(0));
    }
    assert_eq!(
        Harness::new(SocketType::Sub).set(PatternOption::XsubVerboseUnsubscribe(true)),
        Err(PatternError::InvalidArgument)
    );
}

#[test]
fn invert_matching_is_accepted_by_every_socket_type() {
    for t in SocketType::ALL {
        if let Ok(s) = SocketPattern::new(t) {
            let mut h = Harness {
                s,
                fp: FakePipes::new(),
            };
            assert_eq!(h.set(PatternOption::InvertMatching(true)), Ok(()), "{t:?}");
        }
    }
    let mut h = Harness::new(SocketType::Sub);
    h.attach(1, 0);
    h.set(PatternOption::InvertMatching(true)).expect("ok");
    h.set(PatternOption::Subscribe(topic("a"))).expect("ok");
    h.push_in(1, [b"a1".as_slice()]);
    h.push_in(1, [b"b1".as_slice()]);
    assert_eq!(h.recv(), Ok(v(&[b"b1"])));
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
}

#[test]
fn sub_message_cut_by_its_pipe_end_does_not_let_unfiltered_frames_through() {
    let mut h = Harness::new(SocketType::Sub);
    h.attach(1, 0);
    h.attach(2, 0);
    h.set(PatternOption::Subscribe(topic("a"))).expect("ok");
    h.fp.push_in_frame(p(1), Msg::from("a1").with_more(true));
    let m = h.s.recv(&mut h.fp).expect("first frame");
    assert!(m.more());
    h.s.pipe_terminated(p(1));
    h.fp.remove(p(1));
    h.push_in(2, [b"zzz".as_slice()]);
    assert_eq!(h.recv(), Err(PatternError::WouldBlock));
    h.push_in(2, [b"a2".as_slice()]);
    assert_eq!(h.recv(), Ok(v(&[b"a2"])));
}

#[test]
fn router_message_cut_by_its_pipe_end_keeps_routing_ids_in_place() {
    let mut h = Harness::new(SocketType::Router);
    h.attach_id(1, b"A");
    h.attach_id(2, b"B");
    h.fp.push_in_frame(p(1), Msg::from("a1").with_more(true));
    h.s.read_activated(p(1));
    assert_eq!(
        h.s.recv(&mut h.fp).map(|m| m.data().to_vec()),
        Ok(b"A".to_vec())
    );
    assert!(h.s.recv(&mut h.fp).expect("body").more());
    h.s.pipe_terminated(p(1));
    h.fp.remove(p(1));
    h.push_in(2, [b"b".as_slice()]);
    assert_eq!(h.recv(), Ok(v(&[b"B", b"b"])));
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn frames() -> impl Strategy<Value = Vec<Vec<u8>>> {
        proptest::collection::vec(proptest::collection::vec(1u8..255, 0..6), 1..4)
    }

    proptest! {
        /// REP returns the body and sends the reply behind the request's exact envelope, for any
        /// number of hops and any interleaving of peers.
        #[test]
        fn rep_envelopes_round_trip(reqs in proptest::collection::vec((0u64..3, proptest::collection::vec(proptest::collection::vec(1u8..255, 1..4), 0..4), frames()), 1..12)) {
            let mut h = Harness::new(SocketType::Rep);
            for n in 0..3 {
                h.attach(n, 0);
            }
            for (peer, hops, body) in &reqs {
                let mut msg: Vec<&[u8]> = hops.iter().map(Vec::as_slice).collect();
                msg.push(b"");
                msg.extend(body.iter().map(Vec::as_slice));
                h.push_in(*peer, msg);
            }
            let mut expected: Vec<Vec<Vec<Vec<u8>>>> = vec![Vec::new(); 3];
            for _ in 0..reqs.len() {
                let body = h.recv().expect("request");
                // Echo the body: the envelope alone must bring it back to the right peer.
                let frames: Vec<&[u8]> = body.iter().map(Vec::as_slice).collect();
                h.send(&frames).expect("reply");
            }
            for (peer, hops, body) in &reqs {
                let mut m = hops.clone();
                m.push(Vec::new());
                m.extend(body.iter().cloned());
                expected[*peer as usize].push(m);
            }
            for n in 0..3u64 {
                prop_assert_eq!(h.out(n), expected[n as usize].clone());
            }
        }

        /// ROUTER prefixes every message with its sender's id and routes replies back by id.
        #[test]
        fn router_round_trip(msgs in proptest::collection::vec((0u64..4, frames()), 1..20)) {
            let mut h = Harness::new(SocketType::Router);
            for n in 0..4u64 {
                h.attach_id(n, format!("peer{n}").as_bytes());
            }
            for (peer, body) in &msgs {
                h.push_in(*peer, body.iter().map(Vec::as_slice));
            }
            let mut per_peer: Vec<Vec<Vec<Vec<u8>>>> = vec![Vec::new(); 4];
            for _ in 0..msgs.len() {
                let m = h.recv().expect("message");
                let frames: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
                h.send(&frames).expect("routed");
                let id = String::from_utf8(m[0].clone()).expect("id");
                let n: usize = id.trim_start_matches("peer").parse().expect("n");
                per_peer[n].push(m[1..].to_vec());
            }
            prop_assert_eq!(h.recv(), Err(PatternError::WouldBlock));
            for n in 0..4u64 {
                let sent: Vec<Vec<Vec<u8>>> = msgs.iter().filter(|(p, _)| *p == n).map(|(_, b)| b.clone()).collect();
                prop_assert_eq!(&per_peer[n as usize], &sent);
                prop_assert_eq!(h.out(n), sent);
            }
        }
    }
}
