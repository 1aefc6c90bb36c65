//! What a learning environment is made of: [`EnvSpec`], read from TOML or JSON
//! (the Python front passes its keyword arguments as JSON).
//!
//! ```toml
//! scenario = "uc1"            # "uc1", "uc3" (DLMP), a UC1/UC3 TOML file, or any scenario (built-in name or TOML file)
//! learners = ["g830"]         # agents that learn (default: UC1's strategic producers; else every agent)
//! action = "markup"           # "markup" | "markup_index" | "curve" | "load"
//! markup_max = 2.0            # upper bound of the markup (action "markup"/"curve" prices scale with it)
//! markup_levels = [0, 0.5, 1] # the choices of "markup_index" (default 0, 0.25, …, markup_max)
//! step_unit = "grid"          # "grid": one step = one grid step; "round": one step = one market round
//! episode_steps = 24          # grid steps per episode (default: 24 for UC1, the scenario's `steps` else)
//! rounds_per_step = 1         # UC1: market rounds per grid step
//! grid = "ac"                 # UC1: "ac" (AC power flow of the feeder every step, voltages only),
//!                             #      "ac-full" (also branch loading, losses: DistributionGrid) or "none"
//! others = "truthful"         # UC1: the non-learning strategic producers ("truthful" | "scripted" | "hill-climb")
//! elastic_share = 0.0         # UC1: share of elastic consumers (picked with `elastic_seed`)
//! demand_profile = [...]      # multipliers of every consumer's demand, one per grid step (cycled)
//! demand_noise = 0.05         # × (1 + noise·u), u uniform in [-1, 1), per consumer and step (seeded)
//! reward_scale = 0.01         # rewards (¢) × this
//! voltage_penalty = 0.0       # − penalty × Σ_bus max(0, |V − 1| − 0.05) added to every learner's reward
//! record = false              # keep the core Environment's records (slower)
//! settlement = "nodal"        # UC1: "nodal" | "rent_to_buyers" (default: the scenario file's)
//! ```

use std::path::Path;

use serde::Deserialize;

/// A residential daily profile (hourly multipliers of nominal demand), the
/// same as the built-in "ieee34-day" scenario's.
pub const DAILY_PROFILE: [f64; 24] = [
    0.55, 0.50, 0.47, 0.45, 0.46, 0.52, 0.63, 0.74, 0.78, 0.77, 0.76, 0.75, 0.74, 0.73, 0.74, 0.78, 0.86, 0.95,
    1.00, 0.98, 0.92, 0.82, 0.70, 0.60,
];

/// How an RL step relates to the simulation's two timescales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepUnit {
    /// One step = one grid step (all its market rounds, then the power flow).
    GridStep,
    /// One step = one market round; the grid steps after the round that clears the market.
    MarketRound,
}

/// What a learner's action vector means.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// One number in [0, max]: producers offer their cost curve × (1 + m),
    /// consumers bid their utility curve × (1 − m/(1+max)) (bid shading).
    Markup { max: f64 },
    /// One integer in 0..levels.len() (sent as a float): the markup `levels[i]`.
    MarkupIndex { levels: Vec<f64> },
    /// The quadruple (p_max, p_min, q_max, q_min) in ¢/kWh and kW; sorted so
    /// that p_max ≥ p_min and q_max ≥ q_min before it is sent.
    Curve { price_max: f64, quantity_max: f64 },
    /// One number in [0, max]: the multiplier of the agent's load (a setpoint).
    Load { max: f64 },
}

impl ActionKind {
    pub fn dim(&self) -> usize {
        match self {
            ActionKind::Curve { .. } => 4,
            _ => 1,
        }
    }
    /// Whether the action is an index (a discrete space).
    pub fn discrete(&self) -> Option<usize> {
        match self {
            ActionKind::MarkupIndex { levels } => Some(levels.len()),
            _ => None,
        }
    }
    pub fn bounds(&self) -> (Vec<f64>, Vec<f64>) {
        match self {
            ActionKind::Markup { max } | ActionKind::Load { max } => (vec![0.0], vec![*max]),
            ActionKind::MarkupIndex { levels } => (vec![0.0], vec![(levels.len() - 1) as f64]),
            ActionKind::Curve { price_max, quantity_max } => {
                (vec![0.0; 4], vec![*price_max, *price_max, *quantity_max, *quantity_max])
            }
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Markup { .. } => "markup",
            ActionKind::MarkupIndex { .. } => "markup_index",
            ActionKind::Curve { .. } => "curve",
            ActionKind::Load { .. } => "load",
        }
    }
}

/// The learning environment's description (see the module docs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    #[serde(default = "default_scenario")]
    pub scenario: String,
    #[serde(default)]
    pub learners: Option<Vec<String>>,
    #[serde(default = "default_action")]
    pub action: String,
    #[serde(default = "default_markup_max")]
    pub markup_max: f64,
    #[serde(default)]
    pub markup_levels: Option<Vec<f64>>,
    #[serde(default = "default_step_unit")]
    pub step_unit: String,
    #[serde(default)]
    pub episode_steps: Option<usize>,
    #[serde(default = "one_usize")]
    pub rounds_per_step: usize,
    #[serde(default = "default_grid")]
    pub grid: String,
    #[serde(default = "default_others")]
    pub others: String,
    #[serde(default)]
    pub elastic_share: f64,
    #[serde(default = "default_elastic_seed")]
    pub elastic_seed: u64,
    #[serde(default)]
    pub demand_profile: Option<Vec<f64>>,
    #[serde(default = "default_noise")]
    pub demand_noise: f64,
    #[serde(default = "default_reward_scale")]
    pub reward_scale: f64,
    #[serde(default)]
    pub voltage_penalty: f64,
    #[serde(default)]
    pub record: bool,
    /// UC1: the auction's settlement ("nodal" | "rent_to_buyers"), replacing the scenario file's.
    #[serde(default)]
    pub settlement: Option<String>,
}

fn default_scenario() -> String {
    "uc1".into()
}
fn default_action() -> String {
    "markup".into()
}
fn default_markup_max() -> f64 {
    2.0
}
fn default_step_unit() -> String {
    "grid".into()
}
fn one_usize() -> usize {
    1
}
fn default_grid() -> String {
    "ac".into()
}
fn default_others() -> String {
    "truthful".into()
}
fn default_elastic_seed() -> u64 {
    1
}
fn default_noise() -> f64 {
    0.05
}
fn default_reward_scale() -> f64 {
    0.01
}

impl Default for EnvSpec {
    fn default() -> Self {
        Self::from_json("{}").expect("the empty spec is valid")
    }
}

impl EnvSpec {
    pub fn from_json(text: &str) -> Result<Self, String> {
        let spec: EnvSpec = serde_json::from_str(text).map_err(|e| format!("environment spec: {e}"))?;
        spec.check()?;
        Ok(spec)
    }
    pub fn from_toml(text: &str, label: &str) -> Result<Self, String> {
        let spec: EnvSpec = toml::from_str(text).map_err(|e| format!("{label}: {e}"))?;
        spec.check()?;
        Ok(spec)
    }
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Checks the values that do not depend on the scenario.
    pub fn check(&self) -> Result<(), String> {
        self.step_unit()?;
        self.action_kind(1.0, 1.0)?;
        if !(self.markup_max.is_finite() && self.markup_max > 0.0) {
            return Err(format!("markup_max = {} must be a positive number", self.markup_max));
        }
        if self.rounds_per_step == 0 {
            return Err("rounds_per_step must be at least 1".into());
        }
        if self.episode_steps == Some(0) {
            return Err("episode_steps must be at least 1".into());
        }
        if !matches!(self.grid.as_str(), "ac" | "ac-full" | "none") {
            return Err(format!("grid must be \"ac\", \"ac-full\" or \"none\", got {:?}", self.grid));
        }
        if !matches!(self.others.as_str(), "truthful" | "scripted" | "hill-climb" | "hill_climb") {
            return Err(format!("others must be \"truthful\", \"scripted\" or \"hill-climb\", got {:?}", self.others));
        }
        if !(0.0..=1.0).contains(&self.elastic_share) {
            return Err(format!("elastic_share = {} must be in [0, 1]", self.elastic_share));
        }
        if let Some(p) = &self.demand_profile {
            if p.is_empty() || p.iter().any(|x| !x.is_finite() || *x < 0.0) {
                return Err("demand_profile must be a non-empty list of numbers ≥ 0".into());
            }
        }
        if !(self.demand_noise.is_finite() && (0.0..1.0).contains(&self.demand_noise)) {
            return Err(format!("demand_noise = {} must be in [0, 1)", self.demand_noise));
        }
        if !self.reward_scale.is_finite() || !self.voltage_penalty.is_finite() || self.voltage_penalty < 0.0 {
            return Err("reward_scale must be finite and voltage_penalty finite and ≥ 0".into());
        }
        Ok(())
    }

    pub fn step_unit(&self) -> Result<StepUnit, String> {
        match self.step_unit.as_str() {
            "grid" | "grid_step" => Ok(StepUnit::GridStep),
            "round" | "market_round" => Ok(StepUnit::MarketRound),
            other => Err(format!("step_unit must be \"grid\" or \"round\", got {other:?}")),
        }
    }

    /// The action kind; `price_max`/`quantity_max` bound the "curve" action.
    pub fn action_kind(&self, price_max: f64, quantity_max: f64) -> Result<ActionKind, String> {
        match self.action.as_str() {
            "markup" => Ok(ActionKind::Markup { max: self.markup_max }),
            "markup_index" => {
                let levels = match &self.markup_levels {
                    Some(l) => l.clone(),
                    None => {
                        let n = (self.markup_max / 0.25).round().max(1.0) as usize;
                        (0..=n).map(|k| k as f64 * self.markup_max / n as f64).collect()
                    }
                };
                if levels.is_empty() || levels.iter().any(|m| !m.is_finite() || *m < 0.0) {
                    return Err("markup_levels must be a non-empty list of numbers ≥ 0".into());
                }
                Ok(ActionKind::MarkupIndex { levels })
            }
            "curve" => Ok(ActionKind::Curve { price_max, quantity_max }),
            "load" => Ok(ActionKind::Load { max: self.markup_max }),
            other => Err(format!("action must be \"markup\", \"markup_index\", \"curve\" or \"load\", got {other:?}")),
        }
    }
}
