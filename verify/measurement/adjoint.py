"""Lemma 1's adjoint recursion with matrices (THEORY.md section 2):

    G_T = I,    G_i = sum_{j > i} w(i -> j) G_j J_j,    G_i = dh_T / dh_i  (alpha fixed).

Every G_i is carried as a mantissa and a natural-log scale, ``G_i = M_i exp(s_i)`` with
``max |M_i| = 1``, so products over 10^4 and more steps (0.5^20000 = 10^-6021) stay finite
(THEORY.md section 5, "Log domain"). ``K_j = M_j J_j`` is formed once per node, so the cost is
O(T n^3 + edges n^2). Two implementations with one contract:

* :func:`adjoint`, the reference: one node at a time, scales on the host (one device
  synchronisation per node on CUDA).
* :func:`blocked_adjoint`: blocks of nodes from the end, every scale on the device, one
  synchronisation in all (see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from bounds.domains import POSITIVE_INT
from bounds.recursions import Graph
from verify.models.jacobians import DiagTimes, StepJacobians
from verify.progress import Batched, Tick

#: Default block sizes of :func:`blocked_adjoint`. Within a block every node pulls from its
#: block's later nodes: a matrix-vector product over up to ``block`` rows of n^2, bound by
#: memory traffic, so short blocks are cheaper per node; edges that reach further back are
#: pushed once per block as a matrix product, whose efficiency grows with the block. Hence
#: :data:`BLOCK_SHORT` when few edges reach further than it (window, events, uniform attention
#: through its prefix sums), else :data:`BLOCK_LONG` (dense learned attention, strided).
#: Every block costs about 30 device operations against about 13 per node, or 8 on the lean
#: path of a node with a single pull into an empty slot (a chain's G_i = w K_{i+1}).
BLOCK_SHORT, BLOCK_LONG = 16, 64

#: Pushed edges per node beyond which :data:`BLOCK_LONG` is the default.
LONG_EDGES = 32

#: The scale of an empty accumulator: finite, so that ``exp(-inf - FLOOR) = 0`` where
#: ``exp(-inf - -inf)`` would be nan, and below any real scale (|s| < 10^3 per step).
FLOOR = -1e300

#: A dense block product replaces a sparse one when at least this share of its entries is
#: nonzero (a dense GEMM runs about 10x the flop rate of a sparse-times-dense product).
DENSE_SHARE = 0.1


def _successors(g: Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges of ``g`` grouped by source: for node i, ``dst[ptr[i]:ptr[i+1]]`` (increasing)
    with weights ``w``."""
    dst = np.repeat(np.arange(1, g.T + 1), np.diff(g.ptr))
    order = np.lexsort((dst, g.src))
    ptr = np.concatenate([[0], np.cumsum(np.bincount(g.src, minlength=g.T + 1))])
    return ptr, dst[order], g.weight.astype(float)[order]


def _check(g: Graph, J: StepJacobians) -> None:
    if not isinstance(J, Tensor | DiagTimes) or J.ndim != 3 or J.shape[1] != J.shape[2]:
        raise ValueError("parameter 'J' must be a tensor of shape (T, n, n) or a DiagTimes")
    if g.T != J.shape[0]:
        raise ValueError(f"parameter 'J' must hold T = {g.T} step Jacobians, got {J.shape[0]}")


def adjoint(g: Graph, J: StepJacobians) -> tuple[Tensor, np.ndarray]:
    """``(M, s)`` with ``G_i = M[i] * exp(s[i])`` for i = 0..T, from the dependency graph ``g``
    (edge weights w(i -> j)) and the step Jacobians ``J`` (T, n, n) or
    :class:`~verify.models.jacobians.DiagTimes`, ``J[j-1] = J_j``.

    ``s[i] = -inf`` (and ``M[i] = 0``) where ``G_i = 0``: no path from i reaches T, or the
    paths cancel exactly. Each G_i pulls ``sum_j w(i -> j) K_j`` from its successors, with
    ``K_j = M_j J_j`` stored once per node.
    """
    _check(g, J)
    T, n = J.shape[0], J.shape[-1]
    ptr, dst, weight = _successors(g)
    ptr = ptr.tolist()
    M = torch.zeros(T + 1, n, n, dtype=J.dtype, device=J.device)
    K = torch.zeros_like(M)
    M[T] = torch.eye(n, dtype=J.dtype, device=J.device)
    K[T] = J[T - 1]
    s = np.full(T + 1, -np.inf)
    s[T] = 0.0
    for i in range(T - 1, -1, -1):
        lo, hi = ptr[i], ptr[i + 1]
        if hi - lo == 1:
            top = s[dst[lo]]
            if top == -np.inf:
                continue
            G = K[dst[lo]] * weight[lo]
        else:
            js = dst[lo:hi]
            top = s[js].max(initial=-np.inf)
            if top == -np.inf:
                continue
            coef = torch.as_tensor(weight[lo:hi] * np.exp(s[js] - top), dtype=J.dtype,
                                   device=J.device)
            Ks = K[js[0]:js[-1] + 1] if js[-1] - js[0] + 1 == js.size else K[js]
            G = torch.tensordot(coef, Ks, 1)
        r = float(G.abs().amax())
        if r == 0.0:
            continue
        M[i] = G / r
        s[i] = top + math.log(r)
        if i:
            K[i] = M[i] @ J[i - 1]
    return M, s


@dataclass(frozen=True)
class _Schedule:
    """What :func:`blocked_adjoint` does, fixed by the graph and the block size alone.

    Nodes 0..T fall into blocks ``[a_k, b_k)`` processed for k = 0, 1, .. (node T in block 0).
    While block k runs, a buffer holds one slot per node of the block (its accumulated pull,
    then its ``K_j``), slot ``B`` the running prefix sum R and slots ``B+1..`` the carried
    ``K_j`` of the block before. Per block: ``pull`` entries (row, slot, log w), ``push``
    entries to earlier nodes (row into ``push_rows``, slot, log w), the R update's log weights
    ``rlw[k]`` over the slots and the ``carry`` slots. Offsets index the concatenated arrays.
    Per node: ``lean[i]``, the one slot node i pulls from when its own slot stays empty (-1
    where it takes the general path), and that pull's log w ``lean_lw[i]``.
    """

    B: int
    starts: np.ndarray
    ends: np.ndarray
    hi: np.ndarray
    pull: tuple[np.ndarray, np.ndarray, np.ndarray]
    pull_off: np.ndarray
    push: tuple[np.ndarray, np.ndarray, np.ndarray]
    push_off: np.ndarray
    push_rows: np.ndarray
    rows_off: np.ndarray
    cols: np.ndarray
    dense: np.ndarray
    rlw: np.ndarray
    r_update: np.ndarray
    cin: np.ndarray
    carry: np.ndarray
    carry_off: np.ndarray
    lean: np.ndarray
    lean_lw: np.ndarray


def _offsets(keys: np.ndarray, nb: int) -> np.ndarray:
    """Start of each block's run in an array sorted by block key (nb + 1 offsets)."""
    return np.searchsorted(keys, np.arange(nb + 1))


def _prefix(g: Graph, w: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(p, u)`` for j = 1..T: node j's predecessors start with ``0..p_j-1``, every one with
    weight ``u_j`` (the prefix-sum form: uniform attention has ``p_j >= j - 1``)."""
    cnt = np.diff(g.ptr)
    first = g.ptr[:-1]
    q = np.arange(dst.size) - first[dst - 1]
    u = np.zeros(g.T)
    u[cnt > 0] = w[first[cnt > 0]]
    ok = (g.src == q) & (w == u[dst - 1])
    p = np.zeros(g.T, dtype=np.int64)
    if dst.size:
        starts = first[cnt > 0]
        p[cnt > 0] = np.minimum.reduceat(np.where(ok, cnt[dst - 1], q), starts)
    return p, u


def _default_block(src: np.ndarray, dst: np.ndarray, p: np.ndarray, T: int) -> int:
    """:data:`BLOCK_SHORT`, or :data:`BLOCK_LONG` when the short blocks would push more than
    :data:`LONG_EDGES` edges per node (edges longer than a block that no prefix sum takes)."""
    B = BLOCK_SHORT
    prefix = (src < p[dst - 1]) & (p[dst - 1] >= dst - 1 - 2 * B)
    pushed = np.count_nonzero((dst - src > B) & ~prefix)
    return BLOCK_LONG if pushed > LONG_EDGES * T else B


def _without_zero_edges(g: Graph) -> Graph:
    """``g`` less its edges of weight 0 (a weight that underflowed, or gamma = 0): they add
    nothing to any G_i, and the schedule works with log weights."""
    w = g.weight.astype(float)
    if np.any(~(w >= 0)):
        raise ValueError("parameter 'g' must have edge weights >= 0 (the dependency graph of a "
                         "pattern with beta, gamma >= 0)")
    keep = w > 0
    if keep.all():
        return g
    ptr = np.concatenate([[0], np.cumsum(keep)])[g.ptr]
    return Graph(g.T, ptr, g.src[keep], g.weight[keep])


def _schedule(g: Graph, block: int | None) -> _Schedule:
    """Split the edges of ``g`` into in-block pulls, pushes to earlier blocks and prefix sums.

    Node j uses the prefix-sum form when its first ``p_j`` predecessors carry one weight
    ``u_j`` and ``p_j`` reaches into the block processed after j's (start ``a'``): then
    ``u_j K_j`` enters the running sum R that every earlier node reads, directly after j's
    block when ``p_j >= a_j`` (case A), else after the next block, whose nodes below ``p_j``
    pull the carried ``K_j`` (case B). Every other edge from an earlier block is pushed.
    """
    g = _without_zero_edges(g)
    T = g.T
    w = g.weight.astype(float)
    src = g.src.astype(np.int64)
    dst = np.repeat(np.arange(1, T + 1), np.diff(g.ptr))
    p, u = _prefix(g, w, dst)
    B = block or _default_block(src, dst, p, T)
    nb = T // B + 1
    ends = T + 1 - np.arange(nb) * B
    starts = np.maximum(0, ends - B)
    blk = (T - np.arange(T + 1)) // B
    a_of = starts[blk]
    aj, ap = a_of[1:], np.maximum(0, a_of[1:] - B)
    pre = (np.diff(g.ptr) > 0) & (aj > 0) & (p >= 1) & (p >= ap)
    case_a, case_b = pre & (p >= aj), pre & (p < aj)
    lw = np.log(w)
    same = blk[src] == blk[dst]
    covered = ~same & pre[dst - 1] & (src < p[dst - 1])
    push = ~same & ~covered
    carried = covered & case_b[dst - 1] & (src >= ap[dst - 1])

    # carried slots: B + 1 + rank of j among the case-B nodes of its block
    nodes = np.arange(1, T + 1)
    bnodes = nodes[case_b][::-1]                       # by block, then decreasing j
    bblk = blk[bnodes]
    rank = np.arange(bnodes.size) - np.searchsorted(bblk, bblk)
    slot_of = np.zeros(T + 1, np.int64)
    slot_of[bnodes] = B + 1 + rank
    ncarry = np.bincount(bblk, minlength=nb)           # case-B nodes per block
    cin = np.concatenate([[0], ncarry[:-1]])           # carried rows block k reads
    first_a = blk[nodes[case_a]].min(initial=nb)
    first_b = bblk.min(initial=nb)
    ks = np.arange(nb)
    r_active = (ks > first_a) | (ks > first_b + 1)
    extras = r_active | (cin > 0)

    # pulls: own slot, in-block edges, R, carried
    own = np.arange(T + 1)
    rs = [own - a_of, src[same] - a_of[src[same]], src[carried] - a_of[src[carried]]]
    cs = [own - a_of, dst[same] - a_of[dst[same]], slot_of[dst[carried]]]
    ls = [np.zeros(T + 1), lw[same], lw[carried]]
    ks_ = [blk, blk[src[same]], blk[src[carried]]]
    rnodes = own[r_active[blk]]
    rs.append(rnodes - a_of[rnodes])
    cs.append(np.full(rnodes.size, B))
    ls.append(np.zeros(rnodes.size))
    ks_.append(blk[rnodes])
    # lean nodes: one pull besides the own slot, whose accumulator no push fills
    pnode = np.concatenate([src[same], src[carried], rnodes])
    single = np.bincount(pnode, minlength=T + 1)[pnode] == 1
    lean = np.full(T + 1, -1, np.int64)
    lean[pnode[single]] = np.concatenate(cs[1:])[single]
    lean_lw = np.zeros(T + 1)
    lean_lw[pnode[single]] = np.concatenate(ls[1:])[single]
    lean[src[push]] = -1
    key = np.concatenate(ks_)
    order = np.argsort(key, kind="stable")
    pull = tuple(np.concatenate(x)[order] for x in (rs, cs, ls))
    pull_off = _offsets(key[order], nb)

    hi = own - a_of + 1
    np.maximum.at(hi, src[same], dst[same] - a_of[dst[same]] + 1)
    hi = np.where(extras[blk], B + 1 + cin[blk], hi)

    # pushes to earlier blocks, grouped by the block of the destination
    ps, pd, pw = src[push], dst[push], lw[push]
    pk = blk[pd]
    order = np.lexsort((pd, ps, pk))
    ps, pd, pw, pk = ps[order], pd[order], pw[order], pk[order]
    push_off = _offsets(pk, nb)
    new_row = np.r_[True, (ps[1:] != ps[:-1]) | (pk[1:] != pk[:-1])] if ps.size \
        else np.zeros(0, bool)
    row_id = np.cumsum(new_row) - 1
    push_rows = ps[new_row]
    rows_off = np.append(row_id, push_rows.size)[push_off]  # first row of each block
    er = row_id - rows_off[pk] if ps.size else row_id
    ec = pd - starts[pk]
    cols = np.stack([np.zeros(nb, np.int64), ends - starts], axis=1)
    dense = np.zeros(nb, bool)
    for k in np.flatnonzero(np.diff(push_off)):
        lo, up = push_off[k], push_off[k + 1]
        c0, c1 = ec[lo:up].min(), ec[lo:up].max() + 1
        dense[k] = up - lo >= DENSE_SHARE * (rows_off[k + 1] - rows_off[k]) * (c1 - c0)
        if dense[k]:
            cols[k] = c0, c1
            ec[lo:up] -= c0

    # R update after block k: case-A slots of block k, R itself, carried slots from block k-1
    rlw = np.full((nb, 2 * B + 1), -np.inf)
    anodes = nodes[case_a]
    rlw[blk[anodes], anodes - a_of[anodes]] = np.log(u[anodes - 1])
    rlw[blk[bnodes] + 1, slot_of[bnodes]] = np.log(u[bnodes - 1])
    rlw[r_active, B] = 0.0
    r_update = (starts > 0) & (np.isfinite(rlw).any(axis=1))
    rlw[:, B] = 0.0

    carry_off = np.concatenate([[0], np.cumsum(ncarry)])
    carry = bnodes - a_of[bnodes]
    return _Schedule(B, starts, ends, hi, pull, pull_off, (er, ec, pw), push_off, push_rows,
                     rows_off, cols, dense, rlw, r_update, cin, carry, carry_off, lean, lean_lw)


def blocked_adjoint(g: Graph, J: StepJacobians, *, block: int | None = None,
                    tick: Tick | None = None) -> tuple[Tensor, np.ndarray]:
    """Lemma 1's adjoint recursion by blocks: the same ``(M, s)`` as :func:`adjoint`
    (``G_i = M[i] * exp(s[i])``, M (T+1, n, n) on J's device and dtype with ``max |M_i| = 1``,
    s float64 numpy of length T+1, ``-inf`` where ``G_i = 0``) up to rounding.

    Blocks of ``block`` nodes (default: :data:`BLOCK_SHORT` or :data:`BLOCK_LONG`, chosen
    from the graph) run from the end. Inside a block each node pulls from its block's later
    nodes (one product of a weight row with their stacked ``K_j``); when a block is done,
    all its edges from earlier nodes are pushed at once, as one (dense or sparse) product of
    the weights ``W[sources, block]`` with the block's ``K_j`` as rows of length n^2, into the
    sources' accumulators (kept in their rows of M until their turn). Only nodes with an edge
    into the block are touched, so a window pattern costs O(T n^3 + T nu n^2), not
    O(T^2 n^2). A node j whose predecessors ``0..p_j-1`` share one weight (uniform attention)
    enters a running prefix sum instead, so uniform attention costs O(T n^3 + T block n^2).
    A node whose one pull is from a single slot, its own accumulator being empty (a chain's
    G_i = w G_{i+1} J_{i+1}), takes that slot's K_j as it is and adds log w to the scale.
    Scales are float64 tensors on J's device, one per node: a weight row is normalised by its
    largest ``w exp(s_j)`` and every G_i by its largest entry, so no value is read back to the
    host before the end (one synchronisation in all). Memory: M plus ``2 block + 1``
    matrices, and the block's J_j where ``J`` is a
    :class:`~verify.models.jacobians.DiagTimes` (built a block at a time). ``tick``
    (:mod:`verify.progress`) is told of the T + 1 nodes as their blocks are done, about every
    1% of them.
    """
    _check(g, J)
    T, n = J.shape[0], J.shape[-1]
    if block is not None:  # blocks of more than the T + 1 nodes are one block of them all
        block = min(int(POSITIVE_INT.check("block", block)), T + 1)
    sc = _schedule(g, block)
    B = sc.B
    dev, dt = J.device, J.dtype
    f64 = torch.float64

    def put(a: np.ndarray, dtype: torch.dtype = torch.int64) -> Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=dev)

    pr, pc, pl = put(sc.pull[0]), put(sc.pull[1]), put(sc.pull[2], f64)
    er, ec, el = put(sc.push[0]), put(sc.push[1]), put(sc.push[2], f64)
    rows, rlw, carry = put(sc.push_rows), put(sc.rlw, f64), put(sc.carry)
    hi, bounds = sc.hi.tolist(), np.stack([sc.starts, sc.ends], 1).tolist()
    lean, lean_lw = sc.lean.tolist(), sc.lean_lw.tolist()
    lift = (lambda x: x) if dt == f64 else (lambda x: x.to(dt))
    ln = (lambda x: x.log()) if dt == f64 else (lambda x: x.to(f64).log())

    M = torch.zeros(T + 1, n, n, dtype=dt, device=dev)
    Mf = M.view(T + 1, n * n)
    M[T] = torch.eye(n, dtype=dt, device=dev)
    s = torch.full((T + 1,), FLOOR, dtype=f64, device=dev)  # accumulators: empty
    s[T] = 0.0
    P = M.new_zeros(2 * B + 1, n * n)  # block slots | R | carried K_j
    Pm = P.view(2 * B + 1, n, n)
    sb = torch.full((2 * B + 1,), FLOOR, dtype=f64, device=dev)
    # G / max(mx, tiny) is G / mx, or 0 where G = 0
    tiny = float(np.finfo(str(dt).removeprefix("torch.")).smallest_subnormal)
    done = Batched(tick, T + 1) if tick is not None else None
    # the rows as views, made once a buffer (a block) and not once a node
    Pv, Pmv, sbv = P.unbind(0), Pm.unbind(0), sb.unbind(0)

    for k, (a, b) in enumerate(bounds):
        m = b - a
        first = max(a - 1, 0)  # the block's J_j, j = max(a, 1)..b-1, as Jv[j - 1 - first]
        Jv = J[first:b - 1].unbind(0)
        Mv, Mfv = M[a:b].unbind(0), Mf[a:b].unbind(0)
        P[:m].copy_(Mf[a:b])
        sb[:m].copy_(s[a:b])
        lo, up = sc.pull_off[k], sc.pull_off[k + 1]
        LW = torch.full((m, 2 * B + 1), -math.inf, dtype=f64, device=dev)
        LW.index_put_((pr[lo:up], pc[lo:up]), pl[lo:up])
        for i in range(b - 1, a - 1, -1):
            r, c = i - a, lean[i]
            if c >= 0:
                # one pull and an empty own slot: G_i = w exp(s_c) P[c], w into the scale
                top = sbv[c] + lean_lw[i] if lean_lw[i] else sbv[c]
                G = Pv[c]
            else:
                # G_i = sum_slots w exp(s_slot) P[slot]; the own slot (weight 1, scale >=
                # FLOOR) keeps the top finite, so a node nothing reaches gets G = 0, s = -inf
                h = hi[i]
                lg = LW[r, r:h] + sb[r:h]
                top = lg.max()
                G = lift((lg - top).exp_()) @ P[r:h]
            mx = G.abs().max()
            torch.div(G, mx.clamp_min(tiny), out=Mfv[r])
            torch.add(top, ln(mx), out=sbv[r])
            if i:
                torch.matmul(Mv[r], Jv[i - 1 - first], out=Pmv[r])
        s[a:b] = sb[:m]
        lo, up = sc.push_off[k], sc.push_off[k + 1]
        if up > lo:
            c0, c1 = sc.cols[k]
            r0, r1 = sc.rows_off[k], sc.rows_off[k + 1]
            span = sc.push_rows[r0], sc.push_rows[r1 - 1] + 1
            _push(Mf, s, P[c0:c1], sb[c0:c1],
                  slice(*span) if span[1] - span[0] == r1 - r0 else rows[r0:r1],
                  (er[lo:up], ec[lo:up], el[lo:up]), bool(sc.dense[k]), lift)
        if sc.r_update[k]:
            h = B + 1 + int(sc.cin[k])
            lg = rlw[k, :h] + sb[:h]
            top = lg.max()
            P[B].copy_(lift((lg - top).exp_()) @ P[:h])
            sb[B].copy_(top)
        c0, c1 = sc.carry_off[k], sc.carry_off[k + 1]
        if c1 > c0:
            P[B + 1:B + 1 + c1 - c0].copy_(P.index_select(0, carry[c0:c1]))
            sb[B + 1:B + 1 + c1 - c0].copy_(sb.index_select(0, carry[c0:c1]))
        if done is not None:
            done(m)
    if done is not None:
        done.flush()
    return M, s.cpu().numpy()


def _push(Mf: Tensor, s: Tensor, P: Tensor, sb: Tensor, rows: Tensor | slice,
          edges: tuple[Tensor, Tensor, Tensor], dense: bool,
          lift: Callable[[Tensor], Tensor]) -> None:
    """``A_i += sum_j w(i -> j) K_j`` for the sources ``rows`` (indices, or a slice when they
    are contiguous: then in place) of the edges into the block just done, ``edges`` = (row
    into ``rows``, column into ``P``, log w), with the columns ``P`` and their scales ``sb``;
    every accumulator is rescaled to ``max(s_i, max_j log w + s_j)``. The weights form a dense
    matrix when ``dense``, else a sparse one."""
    er, ec, el = edges
    contiguous = isinstance(rows, slice)
    acc = s[rows] if contiguous else s.index_select(0, rows)
    v = el + sb.index_select(0, ec)  # (index_select: tensor[idx] is far slower on CPU)
    top = acc.scatter_reduce(0, er, v, "amax")  # >= acc >= FLOOR: finite
    A = Mf[rows] if contiguous else Mf.index_select(0, rows)
    A.mul_(lift((acc - top).exp_())[:, None])
    coef = lift((v - top.index_select(0, er)).exp_())
    shape = (acc.numel(), P.shape[0])
    if dense:
        W = torch.zeros(shape, dtype=A.dtype, device=A.device)
        W.index_put_((er, ec), coef)
        A.addmm_(W, P)
    else:
        W = torch.sparse_coo_tensor(torch.stack([er, ec]), coef, shape, is_coalesced=True,
                                    check_invariants=False)
        A.add_(torch.sparse.mm(W, P))
    if contiguous:
        s[rows] = top
    else:
        Mf.index_copy_(0, rows, A)
        s.index_copy_(0, rows, top)
