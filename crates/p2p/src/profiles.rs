//! Daily PV-generation and load time series, with forecasts.
//!
//! Energies are kWh per grid step. Shapes are per unit of the peak:
//! * PV: a clear-sky half sine between 06:30 and 19:30 (peak at 13:00),
//!   times a cloud factor in [1 − cloudiness, 1] drawn per step;
//! * load: a typical residential day (night trough, morning and evening
//!   peaks) with ±`load_noise` per step.
//!
//! Forecasts are the actual values × (1 + forecast_error · ε), ε uniform on
//! [−√3, √3] (unit variance), clipped at 0: forecast errors are what make a
//! producer fall short of its contract.
//!
//! A share `thermal_share` of the load is *thermal* (water heating, space
//! heating or cooling): its energy can be served ahead of time from a store
//! ([`crate::agents::Prosumer`]), which is how loads with thermal inertia
//! carry energy across market intervals.

use ogg_core::rng::SplitMix64;

/// Residential load per unit of its peak, hour by hour (00:00 … 23:00).
pub const RESIDENTIAL_SHAPE: [f64; 24] = [
    0.45, 0.40, 0.38, 0.37, 0.38, 0.45, 0.60, 0.75, 0.70, 0.62, 0.58, 0.56, 0.55, 0.54, 0.56, 0.62, 0.72, 0.88, 1.00, 0.98, 0.90,
    0.78, 0.64, 0.52,
];

/// Clear-sky PV per unit of its peak at hour-of-day `h` (may be fractional).
pub fn solar_shape(h: f64) -> f64 {
    let (rise, set) = (6.5, 19.5);
    if h <= rise || h >= set {
        0.0
    } else {
        (std::f64::consts::PI * (h - rise) / (set - rise)).sin()
    }
}

/// Residential load per unit of its peak at hour-of-day `h` (linear between hours).
pub fn load_shape(h: f64) -> f64 {
    let h = h.rem_euclid(24.0);
    let i = h.floor() as usize % 24;
    let f = h - h.floor();
    RESIDENTIAL_SHAPE[i] * (1.0 - f) + RESIDENTIAL_SHAPE[(i + 1) % 24] * f
}

/// What one prosumer's series are made from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileSpec {
    pub pv_peak_kw: f64,
    pub load_peak_kw: f64,
    /// Share of the load that is thermal (storable).
    pub thermal_share: f64,
    pub forecast_error: f64,
    /// Cloud factor range: PV × [1 − cloudiness, 1].
    pub cloudiness: f64,
    pub load_noise: f64,
}

/// One prosumer's day: actual and forecast energy per grid step, kWh.
#[derive(Debug, Clone, PartialEq)]
pub struct Profiles {
    /// Hours per grid step.
    pub step_h: f64,
    pub pv: Vec<f64>,
    pub pv_forecast: Vec<f64>,
    /// Non-thermal load.
    pub base: Vec<f64>,
    pub base_forecast: Vec<f64>,
    /// Thermal load (heat need expressed as electric energy).
    pub heat: Vec<f64>,
    pub heat_forecast: Vec<f64>,
}

impl Profiles {
    pub fn steps(&self) -> usize {
        self.pv.len()
    }

    /// Builds `steps` grid steps of `step_h` hours from midnight, drawing the
    /// noise from `rng`.
    pub fn generate(spec: &ProfileSpec, steps: usize, step_h: f64, rng: &mut SplitMix64) -> Profiles {
        let eps = |rng: &mut SplitMix64| rng.next_symmetric() * 3f64.sqrt();
        let mut p = Profiles {
            step_h,
            pv: Vec::with_capacity(steps),
            pv_forecast: Vec::with_capacity(steps),
            base: Vec::with_capacity(steps),
            base_forecast: Vec::with_capacity(steps),
            heat: Vec::with_capacity(steps),
            heat_forecast: Vec::with_capacity(steps),
        };
        for t in 0..steps {
            // Shapes at the middle of the step.
            let h = (t as f64 + 0.5) * step_h;
            let cloud = 1.0 - spec.cloudiness * rng.next_f64();
            let pv = spec.pv_peak_kw * solar_shape(h % 24.0) * cloud * step_h;
            let load = spec.load_peak_kw * load_shape(h) * (1.0 + spec.load_noise * rng.next_symmetric()).max(0.0) * step_h;
            let (heat, base) = (load * spec.thermal_share, load * (1.0 - spec.thermal_share));
            let fc = |x: f64, rng: &mut SplitMix64| (x * (1.0 + spec.forecast_error * eps(rng))).max(0.0);
            p.pv_forecast.push(fc(pv, rng));
            p.base_forecast.push(fc(base, rng));
            p.heat_forecast.push(fc(heat, rng));
            p.pv.push(pv);
            p.base.push(base);
            p.heat.push(heat);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(solar_shape(3.0), 0.0);
        assert!((solar_shape(13.0) - 1.0).abs() < 1e-12);
        assert_eq!(load_shape(18.0), 1.0);
        assert!((load_shape(18.5) - 0.99).abs() < 1e-12);
        assert!((load_shape(23.5) - (0.52 + 0.45) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn perfect_forecasts_without_noise() {
        let spec = ProfileSpec { pv_peak_kw: 10.0, load_peak_kw: 4.0, thermal_share: 0.25, forecast_error: 0.0, cloudiness: 0.0, load_noise: 0.0 };
        let p = Profiles::generate(&spec, 96, 0.25, &mut SplitMix64::new(1));
        assert_eq!(p.pv, p.pv_forecast);
        assert_eq!(p.heat, p.heat_forecast);
        let pv_day: f64 = p.pv.iter().sum();
        // ∫ 10 sin over 13 h = 10 · 13 · 2/π kWh (midpoint rule at 15 min).
        assert!((pv_day - 10.0 * 13.0 * 2.0 / std::f64::consts::PI).abs() < 0.2, "{pv_day}");
        assert!((p.heat[72] / (p.heat[72] + p.base[72]) - 0.25).abs() < 1e-12);
    }
}
