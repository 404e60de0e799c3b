//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and
//! PUBSUB introspection. Subscriptions are the session's (`Client::subs`);
//! delivery goes through `node::pubsub` into each listener's mailbox.

use super::key_specs::key_flags::NOT_KEY;
use super::spec::{command_table, CommandSpec, KeySpec, KeySpecs, NOKEYS};
use super::{Argv, CmdError, CmdResult, Ctx};
use crate::node::pubsub::Kind;

/// Shard channels are declared as keys that are not keys, so cluster routing
/// sends them to the slot's owner (Redis 7.0's specs).
const KS_SHARD_CHANNELS: KeySpecs = KeySpecs::new(&[KeySpec::at(1, NOT_KEY).range(-1, 1, 0)]);
const KS_SHARD_CHANNEL: KeySpecs = KeySpecs::new(&[KeySpec::at(1, NOT_KEY)]);

/// The pub/sub commands.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "subscribe" -2 [PUBSUB|NOSCRIPT|LOADING|STALE] NOKEYS, "pubsub slow" "pubsub" "2.0.0" subscribe, "Listens for messages published to channels.";
    "unsubscribe" -1 [PUBSUB|NOSCRIPT|LOADING|STALE] NOKEYS, "pubsub slow" "pubsub" "2.0.0" unsubscribe, "Stops listening to messages posted to channels.";
    "psubscribe" -2 [PUBSUB|NOSCRIPT|LOADING|STALE] NOKEYS, "pubsub slow" "pubsub" "2.0.0" psubscribe, "Listens for messages published to channels that match one or more patterns.";
    "punsubscribe" -1 [PUBSUB|NOSCRIPT|LOADING|STALE] NOKEYS, "pubsub slow" "pubsub" "2.0.0" punsubscribe, "Stops listening to messages published to channels that match one or more patterns.";
    "publish" 3 [PUBSUB|LOADING|STALE|FAST|MAY_REPLICATE] NOKEYS, "pubsub fast" "pubsub" "2.0.0" publish, "Posts a message to a channel.";
    "ssubscribe" -2 [PUBSUB|NOSCRIPT|LOADING|STALE] KS_SHARD_CHANNELS, "pubsub slow" "pubsub" "7.0.0" ssubscribe, "Listens for messages published to shard channels.";
    "sunsubscribe" -1 [PUBSUB|NOSCRIPT|LOADING|STALE] KS_SHARD_CHANNELS, "pubsub slow" "pubsub" "7.0.0" sunsubscribe, "Stops listening to messages posted to shard channels.";
    "spublish" 3 [PUBSUB|LOADING|STALE|FAST|MAY_REPLICATE] KS_SHARD_CHANNEL, "pubsub fast" "pubsub" "7.0.0" spublish, "Post a message to a shard channel";
    "pubsub" -2 [] NOKEYS, "slow" "pubsub" "2.8.0" super::server::container, "A container for Pub/Sub commands.", subs PUBSUB_SUBCOMMANDS;
};

/// `PUBSUB` subcommands.
static PUBSUB_SUBCOMMANDS: &[CommandSpec] = command_table! {
    "channels" -2 [PUBSUB|LOADING|STALE] NOKEYS, "pubsub slow" "pubsub" "2.8.0" channels, "Returns the active channels.";
    "numpat" 2 [PUBSUB|LOADING|STALE] NOKEYS, "pubsub slow" "pubsub" "2.8.0" numpat, "Returns a count of unique pattern subscriptions.";
    "numsub" -2 [PUBSUB|LOADING|STALE] NOKEYS, "pubsub slow" "pubsub" "2.8.0" numsub, "Returns a count of subscribers to channels.";
    "shardchannels" -2 [PUBSUB|LOADING|STALE] NOKEYS, "pubsub slow" "pubsub" "7.0.0" shardchannels, "Returns the active shard channels.";
    "shardnumsub" -2 [PUBSUB|LOADING|STALE] NOKEYS, "pubsub slow" "pubsub" "7.0.0" shardnumsub, "Returns the count of subscribers of shard channels.";
    "help" 2 [LOADING|STALE] NOKEYS, "slow" "pubsub" "6.2.0" help, "Returns helpful text about the different subcommands.";
};

/// The commands a RESP2 connection may send while subscribed.
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// A subscription change's confirmation: `[word, channel or nil, count]`,
/// a push in RESP3.
fn confirm(ctx: &mut Ctx<'_>, word: &str, channel: Option<&[u8]>, count: usize) {
    ctx.out.push_len(3);
    ctx.out.bulk(word.as_bytes());
    match channel {
        Some(c) => ctx.out.bulk(c),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
    ctx.out.keep_pushed();
}

/// Scripts cannot subscribe (Redis's CLIENT_DENY_BLOCKING rule; a
/// transaction may, for backward compatibility, except for shard channels).
fn check_may_subscribe(ctx: &Ctx<'_>, name: &str, shard: bool) -> CmdResult {
    if ctx.client.deny_blocking && (shard || ctx.client.multi.is_none()) {
        return Err(CmdError::err(format!(
            "{name} isn't allowed for a DENY BLOCKING client"
        )));
    }
    Ok(())
}

fn subscribe_to(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind, word: &str) {
    for ch in argv.iter().skip(1) {
        let n = ctx.srv.pubsub.subscribe(&ctx.client.info, kind, ch);
        confirm(ctx, word, Some(ch), n);
    }
}

fn unsubscribe_from(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind, word: &str) {
    // What was published before the change is sent before its confirmation.
    ctx.client.info.mailbox.drain_into(&mut ctx.out.buf);
    let named: Vec<Box<[u8]>> = if argv.len() > 1 {
        argv.iter().skip(1).map(Box::from).collect()
    } else {
        ctx.client.info.subs.lock().channels(kind)
    };
    if named.is_empty() {
        let n = ctx.client.info.subs.lock().count(kind);
        confirm(ctx, word, None, n);
    }
    for ch in named {
        let n = ctx.srv.pubsub.unsubscribe(&ctx.client.info, kind, &ch);
        confirm(ctx, word, Some(&ch), n);
    }
}

/// `SUBSCRIBE channel [channel ...]`
pub fn subscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    check_may_subscribe(ctx, "SUBSCRIBE", false)?;
    subscribe_to(ctx, argv, Kind::Channel, "subscribe");
    Ok(())
}

/// `UNSUBSCRIBE [channel ...]`
pub fn unsubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    unsubscribe_from(ctx, argv, Kind::Channel, "unsubscribe");
    Ok(())
}

/// `SSUBSCRIBE shardchannel [shardchannel ...]`
pub fn ssubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    check_may_subscribe(ctx, "SSUBSCRIBE", true)?;
    subscribe_to(ctx, argv, Kind::Shard, "ssubscribe");
    Ok(())
}

/// `SUNSUBSCRIBE [shardchannel ...]`
pub fn sunsubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    unsubscribe_from(ctx, argv, Kind::Shard, "sunsubscribe");
    Ok(())
}

/// `PSUBSCRIBE pattern [pattern ...]`
pub fn psubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    check_may_subscribe(ctx, "PSUBSCRIBE", false)?;
    for p in argv.iter().skip(1) {
        let n = ctx.srv.pubsub.psubscribe(&ctx.client.info, p);
        confirm(ctx, "psubscribe", Some(p), n);
    }
    Ok(())
}

/// `PUNSUBSCRIBE [pattern ...]`
pub fn punsubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ctx.client.info.mailbox.drain_into(&mut ctx.out.buf);
    let named: Vec<Box<[u8]>> = if argv.len() > 1 {
        argv.iter().skip(1).map(Box::from).collect()
    } else {
        ctx.client.info.subs.lock().patterns()
    };
    if named.is_empty() {
        let n = ctx.client.info.subs.lock().classic();
        confirm(ctx, "punsubscribe", None, n);
    }
    for p in named {
        let n = ctx.srv.pubsub.punsubscribe(&ctx.client.info, &p);
        confirm(ctx, "punsubscribe", Some(&p), n);
    }
    Ok(())
}

fn publish_as(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind) -> CmdResult {
    let how = ctx.srv.delivery(ctx.now_ms);
    let n = ctx.srv.pubsub.publish(kind, argv.get(1), argv.get(2), how);
    match ctx.srv.cluster.as_deref() {
        Some(cluster) => cluster.propagate_publish(kind == Kind::Shard, argv.get(1), argv.get(2)),
        // Standalone, replicas' subscribers get it through replication (as
        // Redis's PROPAGATE_REPL; only while replicas are attached).
        None if !ctx.client.replaying => {
            ctx.srv
                .repl
                .append_control(&[argv.get(0), argv.get(1), argv.get(2)]);
        }
        None => {}
    }
    // A publisher listening to its own channel gets the message first.
    ctx.client.info.mailbox.drain_into(&mut ctx.out.buf);
    ctx.out.keep_pushed();
    ctx.out.int(n as i64);
    Ok(())
}

/// In cluster mode, ends the shard channels whose slot this node no longer
/// serves (it moved, or failed over elsewhere): their subscribers get
/// `sunsubscribe` and may subscribe again on the slot's new owner. Run by
/// the cron.
pub fn drop_moved_shard_channels(srv: &crate::node::Server, now_ms: u64) {
    let Some(cluster) = &srv.cluster else {
        return;
    };
    if srv.pubsub.channel_count(Kind::Shard) == 0 {
        return;
    }
    srv.pubsub.drop_shard_channels(
        |ch| {
            cluster
                .route_shard_channels(&[crate::slot::key_slot(ch)])
                .is_ok()
        },
        srv.delivery(now_ms),
    );
}

/// `PUBLISH channel message`
pub fn publish(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    publish_as(ctx, argv, Kind::Channel)
}

/// `SPUBLISH shardchannel message`
pub fn spublish(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    publish_as(ctx, argv, Kind::Shard)
}

fn list_channels(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax(argv));
    }
    let names = ctx.srv.pubsub.channel_names(kind, argv.opt(2));
    ctx.out.array_len(names.len());
    for n in &names {
        ctx.out.bulk(n);
    }
    Ok(())
}

fn count_listeners(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind) -> CmdResult {
    ctx.out.array_len((argv.len() - 2) * 2);
    for ch in argv.iter().skip(2) {
        ctx.out.bulk(ch);
        ctx.out.int(ctx.srv.pubsub.listeners(kind, ch) as i64);
    }
    Ok(())
}

/// Redis's `addReplySubcommandSyntaxError`.
fn subcommand_syntax(argv: &Argv<'_>) -> CmdError {
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
        String::from_utf8_lossy(argv.get(1))
    ))
}

/// `PUBSUB CHANNELS [pattern]`
fn channels(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    list_channels(ctx, argv, Kind::Channel)
}

/// `PUBSUB SHARDCHANNELS [pattern]`
fn shardchannels(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    list_channels(ctx, argv, Kind::Shard)
}

/// `PUBSUB NUMSUB [channel ...]`
fn numsub(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    count_listeners(ctx, argv, Kind::Channel)
}

/// `PUBSUB SHARDNUMSUB [shardchannel ...]`
fn shardnumsub(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    count_listeners(ctx, argv, Kind::Shard)
}

/// `PUBSUB NUMPAT`
fn numpat(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.out.int(ctx.srv.pubsub.pattern_count() as i64);
    Ok(())
}

/// `PUBSUB HELP`
fn help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    super::server::help(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    )
}
