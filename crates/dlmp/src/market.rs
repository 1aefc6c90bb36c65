//! [`DlmpMarket`]: the DSO's OPF as an `ogg_core::Market`.
//!
//! Each market round (one per grid step by default: one market interval)
//! reads every agent's offer (`MarketAction::Custom` named `dlmp.offer`, see
//! [`Offer::to_action`]) at the agent's bus, adds the background demand,
//! solves the OPF with the interval's transmission price
//! (`lmp_series[grid_step]`, cycled; else `options.lmp_source`) and stores one
//! [`Dispatch`] per agent: its bus's DLMP and its quantity (+ consumed,
//! − produced, kW).
//!
//! Outcomes that are not crashes:
//! * an offer that is malformed, non-convex, has NaN parameters or an unknown
//!   bus is **rejected** ([`Rejection`] names the agent and why). A rejected
//!   producer is not dispatched; a rejected consumer or demand-response
//!   provider is served inflexibly at its stated maximum demand when that
//!   number is usable (physically, a load does not disappear with its offer);
//! * an **infeasible** OPF dispatches nobody and records the reason and the
//!   agents involved (`last_solution().status`); with `infeasible_is_error`
//!   it stops the environment instead.
//!
//! Agents read their settlement through the view: `market.dispatch(i)`, or
//! downcast to `DlmpMarket` for the whole solution (`last_solution`, `dlmp_at`).

use std::any::Any;
use std::collections::HashMap;

use ogg_core::{Dispatch, Market, Result, View};

use crate::error::DlmpError;
use crate::network::DlmpNetwork;
use crate::offer::{Offer, OfferKind, PlacedOffer};
use crate::opf::{DlmpSolution, OpfOptions, OpfSolver, OpfStatus};

/// An offer the market did not accept.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Environment index of the agent (None for background demand).
    pub agent_index: Option<usize>,
    pub agent: String,
    pub reason: String,
    /// Whether the agent was served inflexibly instead.
    pub served_as_fixed_load: bool,
}

#[derive(Clone)]
pub struct DlmpMarket {
    name: String,
    network: Option<DlmpNetwork>,
    pub options: OpfOptions,
    /// Transmission price per grid step, $/MWh (cycled); empty: `options.lmp_source`.
    pub lmp_series: Vec<f64>,
    /// Demand not represented by agents (fixed loads).
    pub background: Vec<Offer>,
    /// Market rounds per grid step (default 1).
    pub rounds_per_step: usize,
    /// Whether an infeasible OPF stops the environment (default false).
    pub infeasible_is_error: bool,
    solver: OpfSolver,
    rounds_done: usize,
    /// Environment agent index → (dispatch, bus id, offer index in `last_offers`).
    dispatch: HashMap<usize, (Dispatch, usize, usize)>,
    last: Option<DlmpSolution>,
    last_offers: Vec<PlacedOffer>,
    last_owner: Vec<Option<usize>>,
    rejections: Vec<Rejection>,
    last_lmp: f64,
}

impl std::fmt::Debug for DlmpMarket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DlmpMarket")
            .field("name", &self.name)
            .field("formulation", &self.options.formulation)
            .finish()
    }
}

impl DlmpMarket {
    pub fn new(network: DlmpNetwork, options: OpfOptions) -> Self {
        Self::build(Some(network), options)
    }
    fn build(network: Option<DlmpNetwork>, options: OpfOptions) -> Self {
        DlmpMarket {
            name: "dlmp".into(),
            network,
            last_lmp: options.lmp_source,
            options,
            lmp_series: Vec::new(),
            background: Vec::new(),
            rounds_per_step: 1,
            infeasible_is_error: false,
            solver: OpfSolver::new(),
            rounds_done: 0,
            dispatch: HashMap::new(),
            last: None,
            last_offers: Vec::new(),
            last_owner: Vec::new(),
            rejections: Vec::new(),
        }
    }
    /// A lossless (paper) market on the grid's topology, taken at the first reset
    /// (the topology carries no impedances, so only the `dc` formulation works).
    pub fn on_grid_topology(options: OpfOptions) -> Self {
        Self::build(None, options)
    }
    pub fn with_lmp_series(mut self, series: Vec<f64>) -> Self {
        self.lmp_series = series;
        self
    }
    pub fn with_background(mut self, loads: Vec<Offer>) -> Self {
        self.background = loads;
        self
    }
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }
    pub fn network(&self) -> Option<&DlmpNetwork> {
        self.network.as_ref()
    }
    pub fn last_solution(&self) -> Option<&DlmpSolution> {
        self.last.as_ref()
    }
    /// Offers of the last round and the environment index owning each (None: background).
    pub fn last_offers(&self) -> (&[PlacedOffer], &[Option<usize>]) {
        (&self.last_offers, &self.last_owner)
    }
    pub fn rejections(&self) -> &[Rejection] {
        &self.rejections
    }
    /// Transmission price used in the last round, $/MWh.
    pub fn last_lmp(&self) -> f64 {
        self.last_lmp
    }
    /// DLMP at a bus after the last round, $/MWh.
    pub fn dlmp_at(&self, bus: &str) -> Option<f64> {
        let net = self.network.as_ref()?;
        let i = net.bus_index(bus)?;
        self.last
            .as_ref()
            .filter(|s| s.is_optimal())
            .map(|s| s.dlmp[i])
    }
    /// The offer index (in `last_offers`) of an agent.
    pub fn offer_of(&self, agent_index: usize) -> Option<usize> {
        self.dispatch.get(&agent_index).map(|d| d.2)
    }

    fn lmp_for(&self, grid_step: usize) -> f64 {
        if self.lmp_series.is_empty() {
            self.options.lmp_source
        } else {
            self.lmp_series[grid_step % self.lmp_series.len()]
        }
    }

    fn ensure_network(&mut self, view: &View) -> std::result::Result<(), DlmpError> {
        if self.network.is_some() {
            return Ok(());
        }
        let topo = view.grid.and_then(|g| g.topology()).ok_or_else(|| {
            DlmpError::Network(
                "the DLMP market needs a network: none was given and the grid provides no topology"
                    .into(),
            )
        })?;
        let tree = ogg_market::RadialNetwork::from_topology(topo)?;
        let n = tree.len();
        self.network = Some(DlmpNetwork::new(
            tree,
            vec![0.0; n],
            vec![0.0; n],
            vec![1.0; n],
            vec![0.0; n],
            vec![None; n],
            1000.0,
        )?);
        Ok(())
    }

    /// Collects, validates and places the offers; rejected ones are recorded.
    fn collect(&mut self, view: &View) {
        let net = self.network.as_ref().expect("ensured by the caller");
        self.last_offers.clear();
        self.last_owner.clear();
        self.rejections.clear();
        let place = |offer: Offer,
                     owner: Option<usize>,
                     offers: &mut Vec<PlacedOffer>,
                     owners: &mut Vec<Option<usize>>,
                     rejections: &mut Vec<Rejection>| {
            match PlacedOffer::place(net, &offer) {
                Ok(p) => {
                    offers.push(p);
                    owners.push(owner);
                }
                Err(e) => {
                    // A consumer is still there physically: serve it inflexibly if possible.
                    let mut served = false;
                    if offer.kind != OfferKind::Generator
                        && offer.p_max_kw.is_finite()
                        && offer.p_max_kw >= 0.0
                    {
                        let q = if offer.q_per_p.is_finite() {
                            offer.q_per_p
                        } else {
                            0.0
                        };
                        if let Ok(p) = PlacedOffer::place(
                            net,
                            &Offer::load(&offer.agent, &offer.bus, offer.p_max_kw, q),
                        ) {
                            offers.push(p);
                            owners.push(owner);
                            served = true;
                        }
                    }
                    rejections.push(Rejection {
                        agent_index: owner,
                        agent: offer.agent.clone(),
                        reason: e.to_string(),
                        served_as_fixed_load: served,
                    });
                }
            }
        };
        let mut offers = Vec::new();
        let mut owners = Vec::new();
        let mut rejections = Vec::new();
        for o in &self.background {
            place(o.clone(), None, &mut offers, &mut owners, &mut rejections);
        }
        for (index, agent) in view.agents() {
            for action in agent.market_actions() {
                let bus = agent.bus().unwrap_or("");
                match Offer::from_action(agent.name(), bus, action) {
                    Ok(Some(offer)) => {
                        if agent.bus().is_none() {
                            rejections.push(Rejection {
                                agent_index: Some(index),
                                agent: agent.name().into(),
                                reason: format!(
                                    "offer of '{}' rejected: the agent has no bus",
                                    agent.name()
                                ),
                                served_as_fixed_load: false,
                            });
                            continue;
                        }
                        place(
                            offer,
                            Some(index),
                            &mut offers,
                            &mut owners,
                            &mut rejections,
                        );
                    }
                    Ok(None) => {}
                    Err(e) => rejections.push(Rejection {
                        agent_index: Some(index),
                        agent: agent.name().into(),
                        reason: e.to_string(),
                        served_as_fixed_load: false,
                    }),
                }
            }
        }
        self.last_offers = offers;
        self.last_owner = owners;
        self.rejections = rejections;
    }
}

impl Market for DlmpMarket {
    fn name(&self) -> &str {
        &self.name
    }

    fn reset(&mut self, view: &View) -> Result<()> {
        self.rounds_done = 0;
        self.dispatch.clear();
        self.ensure_network(view)?;
        Ok(())
    }

    fn step(&mut self, view: &View) -> Result<()> {
        self.ensure_network(view)?;
        self.collect(view);
        let mut opts = self.options.clone();
        opts.lmp_source = self.lmp_for(view.grid_step);
        self.last_lmp = opts.lmp_source;
        let net = self.network.as_ref().expect("ensured above");
        let sol = self.solver.solve(net, &self.last_offers, &opts)?;
        self.dispatch.clear();
        if let OpfStatus::Optimal = sol.status {
            for (k, owner) in self.last_owner.iter().enumerate() {
                if let Some(index) = owner {
                    let bus = self.last_offers[k].bus;
                    let entry = self.dispatch.entry(*index).or_insert((
                        Dispatch {
                            price: sol.dlmp[bus],
                            quantity: 0.0,
                        },
                        bus,
                        k,
                    ));
                    entry.0.quantity -= sol.injection_kw[k];
                }
            }
        } else if self.infeasible_is_error {
            return Err(ogg_core::Error::module(
                self.name.clone(),
                format!("OPF {}: {}", sol.status.label(), sol.status.reason()),
            ));
        }
        self.last = Some(sol);
        self.rounds_done += 1;
        Ok(())
    }

    fn cleared(&self) -> bool {
        self.rounds_done >= self.rounds_per_step
    }

    fn dispatch(&self, index: usize) -> Option<Dispatch> {
        self.dispatch.get(&index).map(|d| d.0)
    }

    /// Per agent: its DLMP's components and its net injection.
    fn record_extra(&self, index: usize, out: &mut Vec<(String, f64)>) {
        let (Some((_, bus, k)), Some(s)) = (self.dispatch.get(&index), &self.last) else {
            return;
        };
        out.push(("dlmp".into(), s.dlmp[*bus]));
        out.push(("dlmp_energy".into(), s.decomposition.energy));
        out.push(("dlmp_congestion".into(), s.decomposition.congestion[*bus]));
        out.push(("dlmp_voltage".into(), s.decomposition.voltage[*bus]));
        out.push(("dlmp_loss".into(), s.decomposition.loss[*bus]));
        out.push(("injection_kw".into(), s.injection_kw[*k]));
    }

    /// Per grid step: the LMP, the DLMP range, cost, feasibility, congestion, rejections.
    fn record_step_extra(&self, out: &mut Vec<(String, f64)>) {
        let Some(s) = &self.last else { return };
        out.push(("lmp_source".into(), self.last_lmp));
        out.push(("opf_optimal".into(), if s.is_optimal() { 1.0 } else { 0.0 }));
        let finite: Vec<f64> = s.dlmp.iter().copied().filter(|v| v.is_finite()).collect();
        out.push((
            "dlmp_min".into(),
            finite.iter().copied().fold(f64::NAN, f64::min),
        ));
        out.push((
            "dlmp_max".into(),
            finite.iter().copied().fold(f64::NAN, f64::max),
        ));
        out.push(("opf_cost_per_h".into(), s.objective));
        out.push(("source_kw".into(), s.source_p_kw));
        if let Some(net) = &self.network {
            out.push((
                "congested_lines".into(),
                s.congested_edges(net, 1e-6).len() as f64,
            ));
        }
        out.push(("rejected_offers".into(), self.rejections.len() as f64));
        if let Some(exact) = s.relaxation_exact(self.options.exactness_tol) {
            out.push(("socp_exact".into(), if exact { 1.0 } else { 0.0 }));
        }
    }

    fn clone_box(&self) -> Box<dyn Market> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
