//! Elimination order for radial feeders without a general ordering pass.
//!
//! When the buses joined by the elements form a forest (a radial feeder,
//! parallel elements between the same buses allowed), eliminating the buses
//! leaves first — a postorder of each tree — adds no fill between buses: a
//! bus is eliminated when its only remaining neighbour is its parent, whose
//! nodes it already shares a block with. That is the order AMD finds on such
//! a graph, for a fraction of its work, and every subtree comes out
//! contiguous (cache-friendly solves, the same property the AMD path gets
//! from its postorder). Meshed graphs return `None` and take AMD.

/// `order[k]` = 0-based index (system node − 1) of the k-th pivot, or `None`
/// when the bus graph has a loop. `node_bus[node]` is the bus of each system
/// node (entry 0, ground, unused); `bus_nodes(b)` lists bus b's system nodes
/// in the order they were numbered; `elements` are the node lists (0 = ground).
pub(crate) fn radial_order<'a>(
    n_buses: usize,
    node_bus: &[(usize, u32)],
    bus_nodes: impl Fn(usize) -> &'a [(u32, usize)],
    elements: impl Iterator<Item = &'a [usize]>,
) -> Option<Vec<usize>> {
    let n_nodes = node_bus.len().saturating_sub(1);
    // Bus-to-bus edges: each element joins its first bus to each other bus it
    // touches (a star, so a 3-winding transformer does not look like a loop).
    let mut edges: Vec<(u32, u32)> = Vec::with_capacity(n_buses);
    for nodes in elements {
        // Conductors come terminal by terminal: one edge per run of a bus.
        let (mut first, mut last) = (usize::MAX, usize::MAX);
        for &node in nodes {
            if node == 0 {
                continue;
            }
            let bus = node_bus[node].0;
            if first == usize::MAX {
                first = bus;
            } else if bus != first && bus != last {
                edges.push((first.min(bus) as u32, first.max(bus) as u32));
            }
            last = bus;
        }
    }
    // Adjacency in compressed form.
    let mut adj_start = vec![0u32; n_buses + 1];
    for &(a, b) in &edges {
        adj_start[a as usize + 1] += 1;
        adj_start[b as usize + 1] += 1;
    }
    for b in 0..n_buses {
        adj_start[b + 1] += adj_start[b];
    }
    let mut fill: Vec<u32> = adj_start[..n_buses].to_vec();
    let mut adj = vec![0u32; 2 * edges.len()];
    for &(a, b) in &edges {
        adj[fill[a as usize] as usize] = b;
        fill[a as usize] += 1;
        adj[fill[b as usize] as usize] = a;
        fill[b as usize] += 1;
    }
    // Parallel elements (a regulator bank, a line beside a switch) repeat a
    // neighbour: each list is compacted in place, a mark per neighbour.
    let mut seen_from = fill;
    seen_from.fill(u32::MAX);
    let mut kept = 0u32;
    let mut list_start = 0u32;
    for a in 0..n_buses {
        let (from, to) = (list_start, adj_start[a + 1]);
        list_start = to;
        adj_start[a] = kept;
        for q in from..to {
            let b = adj[q as usize];
            if seen_from[b as usize] != a as u32 {
                seen_from[b as usize] = a as u32;
                adj[kept as usize] = b;
                kept += 1;
            }
        }
    }
    adj_start[n_buses] = kept;
    drop(seen_from);
    let n_edges = kept as usize / 2;

    // Postorder of each tree, rooted at its lowest-numbered bus (the source
    // bus for the main feeder: OpenDSS numbers it first). `next_child[b]`
    // walks b's adjacency; the parent is skipped.
    let mut parent = vec![u32::MAX; n_buses];
    let mut visited = vec![false; n_buses];
    let mut next_child: Vec<u32> = adj_start[..n_buses].to_vec();
    let mut order = Vec::with_capacity(n_nodes);
    let mut stack: Vec<u32> = Vec::new();
    let mut trees = 0usize;
    for root in 0..n_buses {
        if visited[root] {
            continue;
        }
        trees += 1;
        visited[root] = true;
        stack.push(root as u32);
        while let Some(&top) = stack.last() {
            let t = top as usize;
            let end = adj_start[t + 1];
            let mut descended = false;
            while next_child[t] < end {
                let child = adj[next_child[t] as usize];
                next_child[t] += 1;
                if child == parent[t] {
                    continue;
                }
                if visited[child as usize] {
                    // Reached twice: a loop.
                    return None;
                }
                visited[child as usize] = true;
                parent[child as usize] = top;
                stack.push(child);
                descended = true;
                break;
            }
            if !descended {
                stack.pop();
                order.extend(bus_nodes(t).iter().map(|&(_, node)| node - 1));
            }
        }
    }
    // A forest has exactly buses − trees edges; anything else was a loop
    // (already caught above, but cheap to confirm).
    if n_edges + trees != n_buses || order.len() != n_nodes {
        return None;
    }
    Some(order)
}

#[cfg(test)]
mod tests {
    use super::radial_order;

    /// Buses of `bus_of_node` (system nodes 1..), elements as node lists.
    fn order(bus_of_node: &[usize], elements: &[Vec<usize>]) -> Option<Vec<usize>> {
        let n_buses = bus_of_node.iter().max().map_or(0, |b| b + 1);
        let mut node_bus = vec![(usize::MAX, 0u32)];
        let mut bus_nodes: Vec<Vec<(u32, usize)>> = vec![Vec::new(); n_buses];
        for (i, &b) in bus_of_node.iter().enumerate() {
            let number = bus_nodes[b].len() as u32 + 1;
            node_bus.push((b, number));
            bus_nodes[b].push((number, i + 1));
        }
        radial_order(n_buses, &node_bus, |b| bus_nodes[b].as_slice(), elements.iter().map(|e| e.as_slice()))
    }

    #[test]
    fn a_tree_is_eliminated_leaves_first_bus_by_bus() {
        // Bus 0 (nodes 1, 2) feeds bus 1 (3, 4), which feeds buses 2 (5) and 3 (6);
        // a load at bus 3 and a 3-terminal element joining 1, 2 and 3 once more
        // through its star (no new bus pair).
        let buses = [0, 0, 1, 1, 2, 3];
        let elements = vec![vec![1, 2, 3, 4], vec![3, 5], vec![4, 6], vec![6, 0], vec![3, 0, 5, 6]];
        let order = order(&buses, &elements);
        // Postorder from bus 0: bus 2, bus 3, bus 1, bus 0 (0-based node indices).
        assert_eq!(order, Some(vec![4, 5, 2, 3, 0, 1]));
    }

    #[test]
    fn parallel_elements_are_not_a_loop() {
        // A regulator bank: three single-phase transformers between the same buses.
        let buses = [0, 0, 0, 1, 1, 1];
        let elements = vec![vec![1, 0, 4, 0], vec![2, 0, 5, 0], vec![3, 0, 6, 0]];
        assert_eq!(order(&buses, &elements), Some(vec![3, 4, 5, 0, 1, 2]));
    }

    #[test]
    fn a_loop_falls_back() {
        let buses = [0, 1, 2];
        let elements = vec![vec![1, 2], vec![2, 3], vec![3, 1]];
        assert_eq!(order(&buses, &elements), None);
        // Two islands are a forest, each tree ordered on its own.
        let elements = vec![vec![1, 2], vec![3, 0]];
        assert_eq!(order(&buses, &elements), Some(vec![1, 0, 2]));
    }
}
