//! [`P2pMarket`]: the peer-to-peer market maker as an `ogg_core::Market`.
//!
//! # Protocol (what agents send, round by round)
//! A *market step* happens every `interval` grid steps and covers the next
//! `interval` grid steps (the *block*). At the first grid step of a block the
//! market runs `1 + T` rounds:
//!
//! * **round 0, registration** — an agent that wants to trade submits
//!   `MarketAction::Custom { name: "p2p-sell" | "p2p-buy", values }` with its
//!   forecast surplus (sell) or need (buy) in kWh for each grid step of the
//!   block (`interval` non-negative numbers). The market maker then matches
//!   producers with consumers ([`Matching`]); each pair's *contract* is
//!   min(offer_t, need_t) per grid step.
//! * **rounds 1..=T, bargaining** — each matched agent submits
//!   `MarketAction::Price(b)` with b in the action set A. Each round settles
//!   one slice (1/T) of the pair's contract: it trades at b_p if b_p ≤ b_c
//!   (see [`crate::game`]). After round T the market is cleared.
//!
//! At the other grid steps of the block the market runs one empty round and
//! is cleared at once; the contracts stay readable through
//! [`P2pMarket::scheduled`] so that agents can deliver them.
//!
//! The market publishes each round's outcome per agent ([`RoundOutcome`]:
//! partner, both bids, whether the slice traded, the stage payoff per kWh)
//! for learners to read through the view (`view.market` downcast to
//! `P2pMarket`), and a [`Dispatch`] (price, kWh: + bought, − sold) for
//! every slice that traded.

use std::any::Any;

use ogg_core::rng::SplitMix64;
use ogg_core::{Dispatch, Error, Market, MarketAction, Result, View};

use crate::game::{BargainGame, Role};
use crate::matching::{max_weight_matching, pair_weight, random_matching, BusDistances};

/// Registration action names (see the module docs).
pub const SELL: &str = "p2p-sell";
pub const BUY: &str = "p2p-buy";

/// Largest producers × consumers for which max-weight matching is attempted.
pub const MAX_WEIGHT_PAIRS: usize = 4_000_000;

/// How the market maker pairs producers with consumers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Matching {
    /// The paper's rule: at random, regardless of location and amount.
    Random,
    /// Maximum total weight (Hungarian algorithm): energy the pair can trade,
    /// discounted by `distance_weight` × (distance / longest distance).
    MaxWeight { distance_weight: f64 },
}

impl Matching {
    pub fn label(&self) -> String {
        match self {
            Matching::Random => "random".into(),
            Matching::MaxWeight { distance_weight } => format!("max-weight(β={distance_weight})"),
        }
    }
}

/// Market settings.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    pub game: BargainGame,
    /// T: bargaining rounds (slices) per market step.
    pub rounds: usize,
    /// Grid steps per market step (the block length).
    pub interval: usize,
    pub matching: Matching,
}

/// Where the market is in the current grid step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Inside a block: nothing to negotiate at this grid step.
    Idle,
    /// Round 0 of a block: waiting for registrations.
    Registration,
    /// Bargaining; `next` is the 0-based bargaining round to run.
    Bargaining { next: usize },
    /// The negotiation of this grid step is over.
    Done,
}

/// One matched pair and its negotiation in the current block.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// Agent indices in the environment.
    pub producer: usize,
    pub consumer: usize,
    pub producer_bus: Option<String>,
    pub consumer_bus: Option<String>,
    /// Energy per grid step of the block if every slice trades, kWh.
    pub contract: Vec<f64>,
    /// The matching weight of the pair.
    pub weight: f64,
    /// Bids (producer, consumer) of each bargaining round so far, as action indices.
    pub bids: Vec<(usize, usize)>,
    /// How many slices traded, and the sum of their prices.
    pub slices_traded: usize,
    pub price_sum: f64,
}

impl Pair {
    /// Contracted energy of the whole block if every slice traded, kWh.
    pub fn contract_kwh(&self) -> f64 {
        self.contract.iter().sum()
    }
    /// Share of the T slices that traded so far.
    pub fn traded_fraction(&self, rounds: usize) -> f64 {
        if rounds == 0 {
            0.0
        } else {
            self.slices_traded as f64 / rounds as f64
        }
    }
    /// Average price of the traded slices, ¢/kWh (NaN if none traded).
    pub fn mean_price(&self) -> f64 {
        if self.slices_traded == 0 {
            f64::NAN
        } else {
            self.price_sum / self.slices_traded as f64
        }
    }
}

/// What one agent saw in the last bargaining round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundOutcome {
    pub round: usize,
    pub role: Role,
    pub partner: usize,
    /// Action indices of the agent's own bid and its partner's.
    pub own_bid: usize,
    pub partner_bid: usize,
    pub traded: bool,
    /// The stage payoff of this round, ¢/kWh.
    pub payoff: f64,
    /// Energy of the slice, kWh (traded or not).
    pub slice_kwh: f64,
}

/// What an agent has to deliver (producer) or receives (consumer) at one grid step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scheduled {
    pub role: Role,
    pub partner: usize,
    pub pair: usize,
    /// Contracted energy that traded for this grid step, kWh.
    pub kwh: f64,
    /// Average price of the traded slices, ¢/kWh.
    pub price: f64,
}

/// The market maker (see the module docs).
#[derive(Debug, Clone)]
pub struct P2pMarket {
    config: P2pConfig,
    distances: Option<BusDistances>,
    rng: SplitMix64,
    phase: Phase,
    block_start: usize,
    pairs: Vec<Pair>,
    /// Pair of each agent in this block.
    pair_of: Vec<Option<usize>>,
    last: Vec<Option<RoundOutcome>>,
    dispatch: Vec<Option<Dispatch>>,
    /// Registrations of the block: (agent, role) in agent order.
    registered: Vec<(usize, Role)>,
}

impl P2pMarket {
    pub fn new(config: P2pConfig) -> std::result::Result<Self, crate::P2pError> {
        if config.rounds == 0 || config.interval == 0 {
            return Err(crate::P2pError::Input(format!(
                "the P2P market needs T ≥ 1 bargaining rounds and a market interval ≥ 1 grid step (got T = {}, interval = {})",
                config.rounds, config.interval
            )));
        }
        if let Matching::MaxWeight { distance_weight } = config.matching {
            if !distance_weight.is_finite() || distance_weight < 0.0 {
                return Err(crate::P2pError::Input(format!("distance_weight must be finite and ≥ 0 (got {distance_weight})")));
            }
        }
        Ok(P2pMarket {
            config,
            distances: None,
            rng: SplitMix64::new(0),
            phase: Phase::Done,
            block_start: 0,
            pairs: Vec::new(),
            pair_of: Vec::new(),
            last: Vec::new(),
            dispatch: Vec::new(),
            registered: Vec::new(),
        })
    }

    /// Distances along the feeder, for location-aware matching.
    pub fn with_distances(mut self, distances: BusDistances) -> Self {
        self.distances = Some(distances);
        self
    }

    pub fn config(&self) -> &P2pConfig {
        &self.config
    }
    pub fn game(&self) -> &BargainGame {
        &self.config.game
    }
    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// First grid step of the current block.
    pub fn block_start(&self) -> usize {
        self.block_start
    }
    pub fn pairs(&self) -> &[Pair] {
        &self.pairs
    }
    /// The pair agent `agent` is in during this block, with its role.
    pub fn pair_of(&self, agent: usize) -> Option<(usize, Role, &Pair)> {
        let k = (*self.pair_of.get(agent)?)?;
        let pair = &self.pairs[k];
        let role = if pair.producer == agent { Role::Producer } else { Role::Consumer };
        Some((k, role, pair))
    }
    /// The agent's outcome of the last bargaining round, if it bargained in it.
    pub fn last_outcome(&self, agent: usize) -> Option<&RoundOutcome> {
        self.last.get(agent)?.as_ref()
    }
    /// Whether the round that just ran was the last bargaining round.
    pub fn negotiation_finished(&self) -> bool {
        self.phase == Phase::Done
    }
    /// Registrations of the current block: (agent index, role).
    pub fn registered(&self) -> &[(usize, Role)] {
        &self.registered
    }

    /// What `agent` delivers or receives at `grid_step` under this block's
    /// contracts (None outside the block or without a pair).
    pub fn scheduled(&self, agent: usize, grid_step: usize) -> Option<Scheduled> {
        let (k, role, pair) = self.pair_of(agent)?;
        let offset = grid_step.checked_sub(self.block_start)?;
        let contract = *pair.contract.get(offset)?;
        let partner = if role == Role::Producer { pair.consumer } else { pair.producer };
        Some(Scheduled { role, partner, pair: k, kwh: contract * pair.traded_fraction(self.config.rounds), price: pair.mean_price() })
    }

    fn register(&mut self, view: &View) -> Result<()> {
        let interval = self.config.interval;
        let mut offers: Vec<(usize, Vec<f64>)> = Vec::new();
        let mut needs: Vec<(usize, Vec<f64>)> = Vec::new();
        let mut seen = vec![false; view.n_agents()];
        for (i, agent) in view.agents() {
            for action in agent.market_actions() {
                let MarketAction::Custom { name, values } = action else { continue };
                let sell = match name.as_str() {
                    SELL => true,
                    BUY => false,
                    _ => continue,
                };
                if values.len() != interval || values.iter().any(|v| !v.is_finite() || *v < 0.0) {
                    return Err(Error::invalid(
                        agent.name(),
                        format!("'{name}' needs {interval} finite kWh values ≥ 0, one per grid step of the block (got {values:?})"),
                    ));
                }
                if std::mem::replace(&mut seen[i], true) {
                    return Err(Error::invalid(agent.name(), "registered twice in one market step (send one p2p-sell or p2p-buy)"));
                }
                if sell {
                    offers.push((i, values.clone()));
                } else {
                    needs.push((i, values.clone()));
                }
            }
        }
        self.registered = offers.iter().map(|(i, _)| (*i, Role::Producer)).chain(needs.iter().map(|(i, _)| (*i, Role::Consumer))).collect();
        self.registered.sort_unstable_by_key(|r| r.0);
        let bus = |i: usize| view.agent(i).and_then(|a| a.bus()).map(str::to_string);
        let (np, nc) = (offers.len(), needs.len());
        let (max_d, beta) = match (self.config.matching, &self.distances) {
            (Matching::MaxWeight { distance_weight }, Some(d)) => (d.max(), distance_weight),
            _ => (0.0, 0.0),
        };
        let distance = |p: usize, c: usize| -> f64 {
            match (&self.distances, bus(offers[p].0), bus(needs[c].0)) {
                (Some(d), Some(a), Some(b)) => d.get(&a, &b).unwrap_or(f64::INFINITY),
                _ => 0.0,
            }
        };
        let weight = |p: usize, c: usize| pair_weight(&offers[p].1, &needs[c].1, distance(p, c), max_d, beta);
        let matched = match self.config.matching {
            Matching::Random => random_matching(np, nc, &mut self.rng),
            Matching::MaxWeight { .. } => {
                // The Hungarian algorithm is O(n²m): meant for feeder-sized markets.
                if np * nc > MAX_WEIGHT_PAIRS {
                    return Err(Error::module(
                        "p2p market",
                        format!("max-weight matching of {np} producers × {nc} consumers is too large (limit {MAX_WEIGHT_PAIRS} pairs); use random matching"),
                    ));
                }
                let weights: Vec<f64> = (0..np).flat_map(|p| (0..nc).map(move |c| (p, c))).map(|(p, c)| weight(p, c)).collect();
                max_weight_matching(&weights, np, nc)
            }
        };
        for (p, c) in matched {
            let contract: Vec<f64> = offers[p].1.iter().zip(&needs[c].1).map(|(o, n)| o.min(*n)).collect();
            if contract.iter().sum::<f64>() <= 0.0 {
                continue; // nothing to trade: e.g. a random pair whose surplus and need never overlap
            }
            let k = self.pairs.len();
            let (pi, ci) = (offers[p].0, needs[c].0);
            self.pair_of[pi] = Some(k);
            self.pair_of[ci] = Some(k);
            self.pairs.push(Pair {
                producer: pi,
                consumer: ci,
                producer_bus: bus(pi),
                consumer_bus: bus(ci),
                contract,
                weight: weight(p, c),
                bids: Vec::with_capacity(self.config.rounds),
                slices_traded: 0,
                price_sum: 0.0,
            });
        }
        self.phase = if self.pairs.is_empty() { Phase::Done } else { Phase::Bargaining { next: 0 } };
        Ok(())
    }

    fn bargain(&mut self, view: &View, round: usize) -> Result<()> {
        let game = &self.config.game;
        let t = self.config.rounds;
        let bid_of = |i: usize| -> Result<usize> {
            let agent = view.agent(i).ok_or_else(|| Error::module("p2p market", format!("agent #{i} vanished")))?;
            let mut bid = None;
            for action in agent.market_actions() {
                if let MarketAction::Price(b) = action {
                    if bid.is_some() {
                        return Err(Error::invalid(agent.name(), "sent more than one Price in one bargaining round"));
                    }
                    bid = Some(*b);
                }
            }
            let b = bid.ok_or_else(|| Error::invalid(agent.name(), format!("is matched but sent no Price in bargaining round {}", round + 1)))?;
            game.action_index(b).ok_or_else(|| {
                Error::invalid(
                    agent.name(),
                    format!("bid {b} is not in the action set ({} … {}, {} prices)", game.actions[0], game.actions[game.n() - 1], game.n()),
                )
            })
        };
        for k in 0..self.pairs.len() {
            let (pi, ci) = (self.pairs[k].producer, self.pairs[k].consumer);
            let (bp, bc) = (bid_of(pi)?, bid_of(ci)?);
            let traded = game.trades(bp, bc);
            let slice = self.pairs[k].contract_kwh() / t as f64;
            let pair = &mut self.pairs[k];
            pair.bids.push((bp, bc));
            if traded {
                pair.slices_traded += 1;
                pair.price_sum += game.actions[bp];
                self.dispatch[pi] = Some(Dispatch { price: game.actions[bp], quantity: -slice });
                self.dispatch[ci] = Some(Dispatch { price: game.actions[bp], quantity: slice });
            }
            self.last[pi] = Some(RoundOutcome {
                round,
                role: Role::Producer,
                partner: ci,
                own_bid: bp,
                partner_bid: bc,
                traded,
                payoff: game.payoff(Role::Producer, bp, bc),
                slice_kwh: slice,
            });
            self.last[ci] = Some(RoundOutcome {
                round,
                role: Role::Consumer,
                partner: pi,
                own_bid: bc,
                partner_bid: bp,
                traded,
                payoff: game.payoff(Role::Consumer, bc, bp),
                slice_kwh: slice,
            });
        }
        self.phase = if round + 1 >= t { Phase::Done } else { Phase::Bargaining { next: round + 1 } };
        Ok(())
    }
}

impl Market for P2pMarket {
    fn name(&self) -> &str {
        "p2p market"
    }

    fn seed(&mut self, seed: u64) {
        self.rng = SplitMix64::new(seed);
    }

    fn reset(&mut self, view: &View) -> Result<()> {
        let n = view.n_agents();
        self.last = vec![None; n];
        self.dispatch = vec![None; n];
        if view.grid_step.checked_rem(self.config.interval) == Some(0) {
            self.block_start = view.grid_step;
            self.pairs.clear();
            self.pair_of = vec![None; n];
            self.registered.clear();
            self.phase = Phase::Registration;
        } else {
            if self.pair_of.len() != n {
                self.pair_of = vec![None; n];
            }
            self.phase = Phase::Idle;
        }
        Ok(())
    }

    fn step(&mut self, view: &View) -> Result<()> {
        self.dispatch.iter_mut().for_each(|d| *d = None);
        self.last.iter_mut().for_each(|d| *d = None);
        match self.phase {
            Phase::Idle | Phase::Done => {
                self.phase = Phase::Done;
                Ok(())
            }
            Phase::Registration => self.register(view),
            Phase::Bargaining { next } => self.bargain(view, next),
        }
    }

    fn cleared(&self) -> bool {
        self.phase == Phase::Done
    }

    fn dispatch(&self, index: usize) -> Option<Dispatch> {
        self.dispatch.get(index).copied().flatten()
    }

    fn record_extra(&self, index: usize, out: &mut Vec<(String, f64)>) {
        let nan = f64::NAN;
        let (partner, bid, other, traded) = match self.last_outcome(index) {
            Some(o) => (o.partner as f64, self.game().actions[o.own_bid], self.game().actions[o.partner_bid], o.traded as u8 as f64),
            None => (nan, nan, nan, nan),
        };
        out.push(("p2p_partner".into(), partner));
        out.push(("p2p_bid".into(), bid));
        out.push(("p2p_partner_bid".into(), other));
        out.push(("p2p_traded".into(), traded));
    }

    fn record_step_extra(&self, out: &mut Vec<(String, f64)>) {
        let t = self.config.rounds;
        let contract: f64 = self.pairs.iter().map(|p| p.contract_kwh()).sum();
        let traded: f64 = self.pairs.iter().map(|p| p.contract_kwh() * p.traded_fraction(t)).sum();
        out.push(("p2p_pairs".into(), self.pairs.len() as f64));
        out.push(("p2p_contract_kwh".into(), contract));
        out.push(("p2p_traded_kwh".into(), traded));
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

/// The P2P market behind a view, or an error naming the caller.
pub fn p2p_market<'a>(view: &View<'a>, who: &str) -> Result<&'a P2pMarket> {
    view.market
        .and_then(|m| m.as_any().downcast_ref::<P2pMarket>())
        .ok_or_else(|| Error::invalid(who, "needs the P2P market (ogg_p2p::P2pMarket) in the environment"))
}
