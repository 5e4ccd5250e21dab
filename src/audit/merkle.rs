//! The Merkle tree of the audit trail (SPEC §15): RFC 9162 §2.1 hashing, inclusion and
//! consistency proofs, and their verification. Pure functions over hashes; where the tree's
//! hashes come from (memory, the database) is the caller's business, through [`Tree`].
//!
//! Notation follows RFC 9162: `MTH(D[a:b])` is the hash of the subtree over leaves `a..b`.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`: the hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256()` of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (`n >= 2`): RFC 9162's `k`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// A source of subtree hashes: `range(a, b)` is `MTH(D[a:b])` for `a < b`. The proof builders
/// only ask for ranges that RFC 9162's recursion produces: `b - a` is a power of two, or `b` is
/// the tree's size.
pub trait Tree {
    fn range(&self, start: u64, end: u64) -> Hash;
}

/// A tree held in memory as its leaf hashes; every range is recomputed (tests, small trees).
pub struct Leaves<'a>(pub &'a [Hash]);

impl Tree for Leaves<'_> {
    fn range(&self, start: u64, end: u64) -> Hash {
        let leaves = &self.0[start as usize..end as usize];
        if leaves.is_empty() {
            return empty_root();
        }
        let mut frontier = Frontier::default();
        for leaf in leaves {
            frontier.push(*leaf);
        }
        frontier.root()
    }
}

/// The right edge of a tree being built leaf by leaf: the roots of its perfect subtrees, the
/// largest first. Appending is amortised one node hash per leaf; the root costs `log n` more.
/// This is how the sequencer extends the tree and how `audit verify` recomputes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One hash per set bit of `size`, from the highest bit to the lowest.
    peaks: Vec<Hash>,
}

impl Frontier {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The frontier of a tree of `size` leaves from its peaks, as [`peak_positions`] lists them;
    /// `None` when their number does not fit the size.
    pub fn from_peaks(size: u64, peaks: Vec<Hash>) -> Option<Self> {
        (peaks.len() == size.count_ones() as usize).then_some(Frontier { size, peaks })
    }

    pub fn push(&mut self, leaf: Hash) {
        self.push_with(leaf, |_| {});
    }

    /// Appends a leaf and returns the nodes it completes, as `(level, idx, hash)`: the leaf
    /// itself at level 0, then each perfect subtree it closes (see [`Node`]).
    pub fn push_nodes(&mut self, leaf: Hash) -> Vec<Node> {
        let mut nodes = Vec::new();
        self.push_with(leaf, |node| nodes.push(node));
        nodes
    }

    /// Appends a leaf, handing each node it completes to `made` (without collecting them, so
    /// recomputing a large tree allocates nothing per leaf).
    fn push_with(&mut self, leaf: Hash, mut made: impl FnMut(Node)) {
        let index = self.size;
        let mut node = leaf;
        made(Node { level: 0, idx: index, hash: leaf });
        // Each trailing one bit of the old size is a perfect subtree of the new leaf's height.
        for level in 1..=self.size.trailing_ones() {
            // The peaks hold one hash per set bit, so a trailing one has a peak to merge with.
            let Some(left) = self.peaks.pop() else { break };
            node = node_hash(&left, &node);
            made(Node { level, idx: index >> level, hash: node });
        }
        self.peaks.push(node);
        self.size += 1;
    }

    /// `MTH` of everything pushed so far.
    pub fn root(&self) -> Hash {
        fold_peaks(&self.peaks)
    }
}

/// A complete subtree: the hash over leaves `idx * 2^level .. (idx + 1) * 2^level` (0-based,
/// end excluded); level 0 is a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub level: u32,
    pub idx: u64,
    pub hash: Hash,
}

/// Where the peaks of a tree of `size` leaves are, as `(level, idx)`, the largest first: one
/// complete subtree per set bit of `size`.
pub fn peak_positions(size: u64) -> Vec<(u32, u64)> {
    let mut offset = 0u64;
    let mut out = Vec::new();
    for level in (0..64u32).rev() {
        if size >> level & 1 == 1 {
            out.push((level, offset >> level));
            offset += 1 << level;
        }
    }
    out
}

/// The stored nodes whose hashes make `MTH(D[start:end])`, the largest first, for the ranges
/// RFC 9162's recursion asks about (`start` a multiple of a power of two at least `end - start`).
pub fn range_positions(start: u64, end: u64) -> Vec<(u32, u64)> {
    peak_positions(end - start).into_iter().map(|(level, idx)| (level, idx + (start >> level))).collect()
}

/// The root over peaks listed the largest first.
pub fn fold_peaks(peaks: &[Hash]) -> Hash {
    let mut peaks = peaks.iter().rev();
    let Some(last) = peaks.next() else { return empty_root() };
    peaks.fold(*last, |right, left| node_hash(left, &right))
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1), or
/// `None` when `index >= size`.
pub fn inclusion_proof(tree: &(impl Tree + ?Sized), index: u64, size: u64) -> Option<Vec<Hash>> {
    if index >= size {
        return None;
    }
    let mut proof = Vec::new();
    path(tree, index, 0, size, &mut proof);
    Some(proof)
}

/// `PATH(m, D[start:end])`, appending the deepest hash first.
fn path(tree: &(impl Tree + ?Sized), m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
    let n = end - start;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(tree, m, start, start + k, out);
        out.push(tree.range(start + k, end));
    } else {
        path(tree, m - k, start + k, end, out);
        out.push(tree.range(start, start + k));
    }
}

/// The consistency proof between the trees of `old` and `new` leaves (RFC 9162 §2.1.4.1), or
/// `None` unless `0 < old <= new`. Equal sizes have an empty proof.
pub fn consistency_proof(tree: &(impl Tree + ?Sized), old: u64, new: u64) -> Option<Vec<Hash>> {
    if old == 0 || old > new {
        return None;
    }
    let mut proof = Vec::new();
    subproof(tree, old, 0, new, true, &mut proof);
    Some(proof)
}

/// `SUBPROOF(m, D[start:end], b)`.
fn subproof(tree: &(impl Tree + ?Sized), m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<Hash>) {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(tree.range(start, end));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(tree, m, start, start + k, whole, out);
        out.push(tree.range(start + k, end));
    } else {
        subproof(tree, m - k, start + k, end, false, out);
        out.push(tree.range(start, start + k));
    }
}

/// Whether `proof` shows the leaf of hash `leaf` at `index` in the tree of `size` leaves whose
/// root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// Whether `proof` shows that the tree of `old` leaves with root `old_root` is a prefix of the
/// tree of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(old: u64, new: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if old == 0 || old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    let mut proof: Vec<Hash> = proof.to_vec();
    // When the old tree is a perfect subtree on the left edge, its root starts the proof.
    if old.is_power_of_two() {
        proof.insert(0, *old_root);
    }
    let Some((first, rest)) = proof.split_first() else { return false };
    let (mut f_n, mut s_n) = (old - 1, new - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    f_r == *old_root && s_r == *new_root && s_n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap_or_default()
    }

    /// The leaves and roots of the Certificate Transparency reference tests (RFC 6962's
    /// implementation), trees of 1 to 8 leaves.
    const LEAVES: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn reference_leaves() -> Vec<Hash> {
        LEAVES.iter().map(|l| leaf_hash(&unhex(l))).collect()
    }

    fn numbered(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        let leaves = reference_leaves();
        for (n, expected) in ROOTS.iter().enumerate() {
            let mut frontier = Frontier::default();
            for leaf in &leaves[..=n] {
                frontier.push(*leaf);
            }
            assert_eq!(hex::encode(frontier.root()), *expected, "tree of {} leaves", n + 1);
            assert_eq!(frontier.size(), n as u64 + 1);
        }
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn stored_nodes_rebuild_the_frontier() {
        let leaves = numbered(45);
        let mut frontier = Frontier::default();
        let mut stored = std::collections::HashMap::new();
        for (i, leaf) in leaves.iter().enumerate() {
            for node in frontier.push_nodes(*leaf) {
                let start = node.idx << node.level;
                let end = start + (1 << node.level);
                assert_eq!(node.hash, Leaves(&leaves).range(start, end), "node {node:?}");
                assert!(stored.insert((node.level, node.idx), node.hash).is_none(), "made twice");
            }
            // From the stored peaks alone, the tree so far continues as if it had never stopped.
            let size = i as u64 + 1;
            let peaks = peak_positions(size).iter().map(|p| stored[p]).collect();
            let rebuilt = Frontier::from_peaks(size, peaks);
            assert_eq!(rebuilt.as_ref(), Some(&frontier));
        }
        assert_eq!(peak_positions(13), [(3, 0), (2, 2), (0, 12)]);
        // Every range the proofs of a 45-leaf tree ask for is made of stored nodes.
        struct Check<'a>(&'a std::collections::HashMap<(u32, u64), Hash>, &'a [Hash]);
        impl Tree for Check<'_> {
            fn range(&self, start: u64, end: u64) -> Hash {
                let peaks: Vec<Hash> = range_positions(start, end).iter().map(|p| self.0[p]).collect();
                assert_eq!(fold_peaks(&peaks), Leaves(self.1).range(start, end), "{start}..{end}");
                fold_peaks(&peaks)
            }
        }
        let check = Check(&stored, &leaves);
        for size in 1..=45 {
            for m in 0..size {
                inclusion_proof(&check, m, size);
                consistency_proof(&check, m + 1, size);
            }
        }
        assert_eq!(Frontier::from_peaks(3, vec![[0; 32]]), None);
    }

    #[test]
    fn reference_inclusion_proofs() {
        // The reference tests' paths: (leaf index, tree size, path).
        let cases: [(u64, u64, &[&str]); 5] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        let leaves = reference_leaves();
        let tree = Leaves(&leaves);
        for (index, size, expected) in cases {
            let proof = inclusion_proof(&tree, index, size).unwrap_or_default();
            let proof: Vec<String> = proof.iter().map(hex::encode).collect();
            assert_eq!(proof, expected, "leaf {index} of {size}");
        }
        assert_eq!(inclusion_proof(&tree, 5, 5), None);
    }

    #[test]
    fn every_inclusion_proof_verifies_and_no_other_does() {
        let leaves = numbered(33);
        let tree = Leaves(&leaves);
        for size in 1..=33u64 {
            let root = tree.range(0, size);
            for index in 0..size {
                let proof = inclusion_proof(&tree, index, size).unwrap_or_default();
                let leaf = leaves[index as usize];
                assert!(verify_inclusion(index, size, &leaf, &proof, &root), "leaf {index} of {size}");
                // The same proof fails for another leaf, another index or a wrong root.
                let other = leaf_hash(b"not in the tree");
                assert!(!verify_inclusion(index, size, &other, &proof, &root));
                if size > 1 {
                    assert!(!verify_inclusion((index + 1) % size, size, &leaf, &proof, &root));
                }
                assert!(!verify_inclusion(index, size, &leaf, &proof, &other));
                if let Some((_, shorter)) = proof.split_last() {
                    assert!(!verify_inclusion(index, size, &leaf, shorter, &root));
                }
            }
        }
    }

    #[test]
    fn reference_consistency_proofs() {
        let leaves = reference_leaves();
        let tree = Leaves(&leaves);
        let hexes = |old, new| -> Vec<String> {
            consistency_proof(&tree, old, new).unwrap_or_default().iter().map(hex::encode).collect()
        };
        assert!(hexes(1, 1).is_empty());
        assert_eq!(
            hexes(1, 8),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hexes(6, 8),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            hexes(2, 5),
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_rewritten_history_does_not() {
        let leaves = numbered(33);
        let tree = Leaves(&leaves);
        // A history whose leaf 3 was rewritten.
        let mut rewritten = leaves.clone();
        rewritten[3] = leaf_hash(b"rewritten");
        let forged = Leaves(&rewritten);
        for new in 1..=33u64 {
            let new_root = tree.range(0, new);
            for old in 1..=new {
                let old_root = tree.range(0, old);
                let proof = consistency_proof(&tree, old, new).unwrap_or_default();
                assert!(verify_consistency(old, new, &old_root, &new_root, &proof), "{old} -> {new}");
                if old > 3 {
                    // Whatever proof the rewritten log offers, it cannot extend the old root.
                    let forged_proof = consistency_proof(&forged, old, new).unwrap_or_default();
                    let forged_root = forged.range(0, new);
                    assert!(!verify_consistency(old, new, &old_root, &forged_root, &forged_proof));
                }
                if old < new {
                    assert!(!verify_consistency(old, new, &old_root, &old_root, &proof) || old_root == new_root);
                }
            }
        }
        assert_eq!(consistency_proof(&tree, 0, 3), None);
        assert_eq!(consistency_proof(&tree, 4, 3), None);
    }
}
