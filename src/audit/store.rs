//! Queries of the audit trail: appending events, sequencing them into the log and the Merkle
//! tree (SPEC §15), reading pages, walking the whole trail.
//!
//! Writers only insert into `audit_pending`, inside their own transaction and without a lock,
//! so audited writes commit in parallel. The sequencer ([`sequence`]) is one short transaction
//! that, under a lock only sequencers and readers take, moves committed events into `audit_log`
//! with the next `seq` and chain hash, deletes exactly the rows it moved, and adds the new
//! leaves to `audit_tree`. Both happen in one commit, so an event is sequenced once or not yet,
//! whatever process is killed when; and since a pass only sees committed events, `seq` follows
//! the order in which events became visible.

use chrono::NaiveDateTime;
use diesel::dsl;
use diesel::prelude::*;

use super::merkle::{self, Frontier, Hash};
use super::rules::{ChainChecker, GENESIS_HASH};
use super::{Entry, NewEntry, Verification};
use crate::db::schema::{audit_log, audit_pending, audit_tree};
use crate::db::{locks, write_tx, DbConn, Id};
use crate::db_run;

/// Events moved, and leaves added, per sequencer pass: one pass is one transaction, so this
/// bounds how long it holds SQLite's write lock.
pub const BATCH: usize = 2000;
/// Rows per DELETE statement (SQLite allows 32 766 bound values per statement).
const ROWS_PER_STATEMENT: usize = 500;

/// An event waiting for its place in the trail.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_pending, treat_none_as_default_value = false)]
struct Pending {
    #[diesel(skip_insertion)]
    id: i64,
    at: NaiveDateTime,
    actor_id: Option<Id>,
    actor_role: Option<String>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    details: String,
    request_id: Option<String>,
}

fn pending_of(new: NewEntry) -> Pending {
    Pending {
        id: 0,
        at: crate::db::now(),
        actor_id: new.actor.id,
        actor_role: new.actor.role,
        action: new.action.to_string(),
        target_type: new.target_type.map(str::to_string),
        target_id: new.target_id,
        details: new.details.to_string(),
        request_id: new.request_id,
    }
}

fn insert(pending: &Pending) -> dsl::Values<dsl::insert_into<audit_pending::table>, &Pending> {
    diesel::insert_into(audit_pending::table).values(pending)
}

/// Appends one event. Call it inside [`crate::db::write_tx`] together with the change: the
/// event is committed with the change or not at all. It takes no lock.
pub fn record(conn: &mut DbConn, new: NewEntry) -> QueryResult<()> {
    let pending = pending_of(new);
    db_run!(conn: { insert(&pending).execute(conn) })?;
    Ok(())
}

/// Appends several events at once, as [`record`].
pub fn record_many(conn: &mut DbConn, entries: Vec<NewEntry>) -> QueryResult<()> {
    let pending: Vec<Pending> = entries.into_iter().map(pending_of).collect();
    db_run!(conn: { crate::insert_in_fixed_chunks!(&pending, |rows| diesel::insert_into(audit_pending::table).values(rows).execute(conn)) })?;
    Ok(())
}

type Head =
    dsl::Limit<dsl::Order<dsl::Select<audit_log::table, (audit_log::seq, audit_log::hash)>, dsl::Desc<audit_log::seq>>>;

/// The newest sequenced entry's seq and hash.
fn head() -> Head {
    audit_log::table.select((audit_log::seq, audit_log::hash)).order(audit_log::seq.desc()).limit(1)
}

/// What a sequencer keeps from one pass to the next: the tree's right edge after its last pass,
/// so that a pass need not read the tree's peaks again when no other instance has added to the
/// tree since (the tree only grows, so the same size means the same peaks).
#[derive(Default)]
pub struct Edge(Option<Frontier>);

/// One pass of the sequencer: sequences up to a batch of committed events and adds up to a batch
/// of entries to the tree. Returns how many of each; `(0, 0)` when there was nothing to do.
pub fn sequence(conn: &mut DbConn) -> QueryResult<(usize, usize)> {
    sequence_keeping(conn, &mut Edge::default())
}

/// [`sequence`], starting from the tree's edge `edge` kept from the previous pass and keeping
/// the new one there once the pass has committed.
pub fn sequence_keeping(conn: &mut DbConn, edge: &mut Edge) -> QueryResult<(usize, usize)> {
    let kept = edge.0.take();
    let (moved, integrated, frontier) = write_tx(conn, |conn| {
        crate::db::lock(conn, locks::AUDIT_SEQUENCER)?;
        let moved = move_pending(conn)?;
        let count = moved.len();
        let (integrated, frontier) = integrate(conn, moved, kept)?;
        Ok::<_, diesel::result::Error>((count, integrated, frontier))
    })?;
    edge.0 = frontier;
    Ok((moved, integrated))
}

/// Runs passes until every event committed so far is in the log and the tree. Readers of the
/// trail call it first, so they see every event committed before they asked.
pub fn sequence_all(conn: &mut DbConn) -> QueryResult<()> {
    while sequence(conn)? != (0, 0) {}
    Ok(())
}

/// Moves up to a batch of committed events into `audit_log`; the entries it wrote, in order.
fn move_pending(conn: &mut DbConn) -> QueryResult<Vec<Entry>> {
    let pending: Vec<Pending> = db_run!(conn: {
        audit_pending::table.select(Pending::as_select()).order(audit_pending::id.asc()).limit(BATCH as i64).load(conn)
    })?;
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let head: Option<(i64, String)> = db_run!(conn: { head().get_result(conn).optional() })?;
    let (mut seq, mut prev_hash) = head.unwrap_or((0, GENESIS_HASH.to_string()));
    let mut entries = Vec::with_capacity(pending.len());
    for event in &pending {
        seq += 1;
        let mut entry = Entry {
            seq,
            at: event.at,
            actor_id: event.actor_id,
            actor_role: event.actor_role.clone(),
            action: event.action.clone(),
            target_type: event.target_type.clone(),
            target_id: event.target_id.clone(),
            details: event.details.clone(),
            request_id: event.request_id.clone(),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        prev_hash = entry.hash.clone();
        entries.push(entry);
    }
    db_run!(conn: { crate::insert_in_fixed_chunks!(&entries, |rows| diesel::insert_into(audit_log::table).values(rows).execute(conn)) })?;
    // Exactly the rows read above: an event that committed since (with a lower or higher id)
    // stays for the next pass.
    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    for ids in ids.chunks(ROWS_PER_STATEMENT) {
        db_run!(conn: { diesel::delete(audit_pending::table.filter(audit_pending::id.eq_any(ids))).execute(conn) })?;
    }
    Ok(entries)
}

/// How many leaves the tree has.
fn tree_size(conn: &mut DbConn) -> QueryResult<u64> {
    let last: Option<i64> = db_run!(conn: {
        audit_tree::table.filter(audit_tree::level.eq(0)).select(dsl::max(audit_tree::idx)).get_result(conn)
    })?;
    Ok(last.map_or(0, |idx| idx as u64 + 1))
}

/// The stored hash of each `(level, idx)`, in the order asked.
fn nodes(conn: &mut DbConn, positions: &[(u32, u64)]) -> QueryResult<Vec<Hash>> {
    let mut out = Vec::with_capacity(positions.len());
    for &(level, idx) in positions {
        let hash: String = db_run!(conn: {
            audit_tree::table
                .filter(audit_tree::level.eq(level as i16).and(audit_tree::idx.eq(idx as i64)))
                .select(audit_tree::hash)
                .first(conn)
        })?;
        out.push(parse_hash(&hash).ok_or(diesel::result::Error::NotFound)?);
    }
    Ok(out)
}

fn parse_hash(hex_text: &str) -> Option<Hash> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut hash).ok()?;
    Some(hash)
}

/// The tree's size and right edge, read from its stored peaks.
fn frontier(conn: &mut DbConn) -> QueryResult<Frontier> {
    let size = tree_size(conn)?;
    let peaks = nodes(conn, &merkle::peak_positions(size))?;
    Frontier::from_peaks(size, peaks).ok_or(diesel::result::Error::NotFound)
}

/// Adds the entries of `audit_log` the tree does not hold yet, a batch at a time: those `moved`
/// by this pass when they are next (nothing read back), or else the next ones stored (the
/// entries written before the tree existed). `kept` is the tree's edge as a previous pass left
/// it, used when the tree has not grown since. Returns how many were added and the new edge.
fn integrate(conn: &mut DbConn, moved: Vec<Entry>, kept: Option<Frontier>) -> QueryResult<(usize, Option<Frontier>)> {
    let size = tree_size(conn)?;
    let kept = kept.filter(|edge| edge.size() == size);
    let entries: Vec<Entry> = match moved.first() {
        Some(first) if first.seq as u64 == size + 1 => moved,
        _ => db_run!(conn: {
            audit_log::table
                .select(Entry::as_select())
                .filter(audit_log::seq.gt(size as i64))
                .order(audit_log::seq.asc())
                .limit(BATCH as i64)
                .load(conn)
        })?,
    };
    if entries.is_empty() {
        // The idle pass: the tree's peaks are read only when there is something to add.
        return Ok((0, kept));
    }
    let mut frontier = match kept {
        Some(edge) => edge,
        None => {
            let peaks = nodes(conn, &merkle::peak_positions(size))?;
            Frontier::from_peaks(size, peaks).ok_or(diesel::result::Error::NotFound)?
        }
    };
    let mut rows = Vec::new();
    for entry in &entries {
        // seq is gap-free, so leaf `seq - 1` is this entry; a gap stops the tree where it is
        // and `verify` names it.
        if entry.seq as u64 != frontier.size() + 1 {
            break;
        }
        for node in frontier.push_nodes(entry.leaf_hash()) {
            rows.push((
                audit_tree::level.eq(node.level as i16),
                audit_tree::idx.eq(node.idx as i64),
                audit_tree::hash.eq(hex::encode(node.hash)),
            ));
        }
    }
    db_run!(conn: { crate::insert_in_fixed_chunks!(&rows, |chunk| diesel::insert_into(audit_tree::table).values(chunk).execute(conn)) })?;
    Ok((entries.len(), Some(frontier)))
}

/// The tree's size and root, as stored.
pub fn tree_head(conn: &mut DbConn) -> QueryResult<(u64, Hash)> {
    let frontier = frontier(conn)?;
    Ok((frontier.size(), frontier.root()))
}

/// The leaf hash of the entry at `index` (its `seq - 1`).
pub fn leaf(conn: &mut DbConn, index: u64) -> QueryResult<Hash> {
    Ok(nodes(conn, &[(0, index)])?[0])
}

/// Notes which ranges a proof asks for, so that their nodes are read in one go.
struct Recorder(std::cell::RefCell<Vec<(u64, u64)>>);

impl merkle::Tree for Recorder {
    fn range(&self, start: u64, end: u64) -> Hash {
        self.0.borrow_mut().push((start, end));
        [0; 32]
    }
}

/// The stored nodes a proof needs.
struct Loaded(std::collections::HashMap<(u32, u64), Hash>);

impl merkle::Tree for Loaded {
    fn range(&self, start: u64, end: u64) -> Hash {
        let peaks: Vec<Hash> =
            merkle::range_positions(start, end).iter().map(|p| self.0.get(p).copied().unwrap_or([0; 32])).collect();
        merkle::fold_peaks(&peaks)
    }
}

/// Runs `proof` over the stored tree: once to learn the ranges it needs, then over their nodes.
fn over_stored<T>(conn: &mut DbConn, proof: impl Fn(&dyn merkle::Tree) -> T) -> QueryResult<T> {
    let recorder = Recorder(Default::default());
    proof(&recorder);
    let positions: Vec<(u32, u64)> =
        recorder.0.into_inner().into_iter().flat_map(|(a, b)| merkle::range_positions(a, b)).collect();
    let hashes = nodes(conn, &positions)?;
    Ok(proof(&Loaded(positions.into_iter().zip(hashes).collect())))
}

/// The inclusion proof of leaf `index` in the tree's first `size` leaves (`index < size <=` the
/// stored size, checked by the caller).
pub fn inclusion(conn: &mut DbConn, index: u64, size: u64) -> QueryResult<Vec<Hash>> {
    over_stored(conn, |tree| merkle::inclusion_proof(tree, index, size).unwrap_or_default())
}

/// The consistency proof between the tree's first `old` and first `new` leaves
/// (`0 < old <= new <=` the stored size, checked by the caller).
pub fn consistency(conn: &mut DbConn, old: u64, new: u64) -> QueryResult<Vec<Hash>> {
    over_stored(conn, |tree| merkle::consistency_proof(tree, old, new).unwrap_or_default())
}

/// Sequences what is pending, then walks the whole trail in order: the chain, each entry's leaf
/// against the stored tree, and the stored tree's root against the one recomputed.
pub fn verify(conn: &mut DbConn) -> QueryResult<Verification> {
    verify_against(conn, None)
}

/// [`verify`], also telling whether the trail still extends the checkpoint `saved` (size, root).
pub fn verify_against(conn: &mut DbConn, saved: Option<(u64, Hash)>) -> QueryResult<Verification> {
    const PAGE: i64 = 1000;
    // A tree whose stored nodes were removed cannot be extended; verify still walks what is
    // there and reports it broken, rather than failing.
    if let Err(e) = sequence_all(conn) {
        tracing::warn!(error = %e, "audit verify: pending events could not be sequenced");
    }
    let mut checker = ChainChecker::against(saved);
    let mut after = 0i64;
    loop {
        let page: Vec<Entry> = db_run!(conn: {
            audit_log::table
                .select(Entry::as_select())
                .filter(audit_log::seq.gt(after))
                .order(audit_log::seq.asc())
                .limit(PAGE)
                .load(conn)
        })?;
        let Some(last) = page.last() else { break };
        let leaves: Vec<(i64, String)> = db_run!(conn: {
            audit_tree::table
                .filter(audit_tree::level.eq(0).and(audit_tree::idx.ge(after)).and(audit_tree::idx.lt(last.seq)))
                .select((audit_tree::idx, audit_tree::hash))
                .order(audit_tree::idx.asc())
                .load(conn)
        })?;
        let mut leaves = leaves.into_iter().peekable();
        after = last.seq;
        for entry in &page {
            let stored = leaves.next_if(|(idx, _)| *idx == entry.seq - 1).and_then(|(_, hash)| parse_hash(&hash));
            checker.check(entry, stored);
        }
        if (page.len() as i64) < PAGE {
            break;
        }
    }
    let stored = frontier(conn).ok().map(|f| (f.size(), f.root()));
    Ok(checker.finish(stored))
}

/// What `GET /api/v1/audit` asks for.
#[derive(Debug, Default)]
pub struct Filter {
    pub actor_id: Option<Id>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// Newest first: entries with `seq` below this one.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// Entries newest first, one more than `limit` to tell whether a next page exists.
pub fn list(conn: &mut DbConn, filter: &Filter) -> QueryResult<Vec<Entry>> {
    db_run!(conn: {
        let mut q = audit_log::table.select(Entry::as_select()).into_boxed();
        if let Some(actor) = filter.actor_id {
            q = q.filter(audit_log::actor_id.eq(actor));
        }
        if let Some(action) = &filter.action {
            q = q.filter(audit_log::action.eq(action.clone()));
        }
        if let Some(target) = &filter.target_id {
            q = q.filter(audit_log::target_id.eq(target.clone()));
        }
        if let Some(from) = filter.from {
            q = q.filter(audit_log::at.ge(from));
        }
        if let Some(to) = filter.to {
            q = q.filter(audit_log::at.lt(to));
        }
        if let Some(seq) = filter.before_seq {
            q = q.filter(audit_log::seq.lt(seq));
        }
        q.order(audit_log::seq.desc()).limit(filter.limit + 1).load(conn)
    })
}
