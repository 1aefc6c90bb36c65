//! Learning environments: shapes, bounds, episode ends, the two step units,
//! vectorised stepping vs lone environments, threads, errors.

use ogg_vector::{AutoReset, EnvSpec, MarketEnv, StepBuffers, VecEnv};

fn spec(json: &str) -> EnvSpec {
    EnvSpec::from_json(json).expect("valid spec")
}

/// Runs one episode with a fixed action per learner; returns (obs, rewards) of every step.
fn episode(env: &mut MarketEnv, seed: u64, action: f64) -> (Vec<Vec<f32>>, Vec<Vec<f64>>) {
    let (l, o, a) = (env.n_learners(), env.obs_dim(), env.act_dim());
    let mut obs = vec![0f32; l * o];
    let mut rew = vec![0f64; l];
    env.reset(Some(seed), &mut obs).unwrap();
    let (mut all_obs, mut all_rew) = (vec![obs.clone()], Vec::new());
    loop {
        let (te, tr) = env.step(&vec![action; l * a], &mut obs, &mut rew).unwrap();
        all_obs.push(obs.clone());
        all_rew.push(rew.clone());
        assert!(!tr, "no truncation expected: {:?}", env.last_error());
        if te {
            break;
        }
    }
    (all_obs, all_rew)
}

fn in_bounds(env: &MarketEnv, obs: &[f32]) {
    let (low, high) = env.obs_bounds();
    let names = env.obs_names();
    for (k, x) in obs.iter().enumerate() {
        let j = k % env.obs_dim();
        assert!(x.is_finite() && *x >= low[j] && *x <= high[j], "{} = {x} outside [{}, {}]", names[j], low[j], high[j]);
    }
}

#[test]
fn uc1_shapes_bounds_and_episode_end() {
    let mut env = MarketEnv::new(&spec(r#"{"grid": "none", "episode_steps": 6}"#)).unwrap();
    assert_eq!(env.n_learners(), 4, "the four strategic producers learn by default");
    assert_eq!(env.learner_names(), ["g802", "g808", "g830", "g848"]);
    assert_eq!(env.act_dim(), 1);
    assert_eq!(env.obs_dim(), 11 + 3, "three limited lines in scenarios/uc1.toml");
    let (obs, rew) = episode(&mut env, 3, 0.0);
    assert_eq!(rew.len(), 6);
    for o in &obs {
        in_bounds(&env, o);
    }
    assert!(env.is_done());
    let mut buf = vec![0f32; 4 * env.obs_dim()];
    let mut r = vec![0f64; 4];
    assert!(env.step(&[0.0; 4], &mut buf, &mut r).unwrap_err().contains("reset"));
}

#[test]
fn truthful_learner_earns_what_a_truthful_producer_earns() {
    // Markup 0 is the truthful offer: p·q − c(q) at the dispatched quantity, positive.
    let mut env = MarketEnv::new(&spec(r#"{"grid": "none", "learners": ["g848"], "episode_steps": 3, "demand_noise": 0}"#)).unwrap();
    let (_, rew) = episode(&mut env, 0, 0.0);
    let info = env.learner_info();
    let d = &info[0];
    let sold = -d.quantity_kw;
    // cost 2 → 7 ¢/kWh over 930 kW: c(q) = 2q + 0.5·5/930·q².
    let expected = d.price * sold - (2.0 * sold + 0.5 * 5.0 / 930.0 * sold * sold);
    assert!(sold > 0.0);
    assert!((d.raw_reward - expected).abs() < 1e-9 * expected.abs().max(1.0), "{} vs {expected}", d.raw_reward);
    assert!((rew[2][0] - 0.01 * expected).abs() < 1e-9);
}

#[test]
fn round_mode_with_one_round_equals_grid_mode() {
    let base = r#""grid": "ac", "episode_steps": 4, "rounds_per_step": 1"#;
    let mut grid = MarketEnv::new(&spec(&format!(r#"{{{base}, "step_unit": "grid"}}"#))).unwrap();
    let mut round = MarketEnv::new(&spec(&format!(r#"{{{base}, "step_unit": "round"}}"#))).unwrap();
    let (og, rg) = episode(&mut grid, 11, 0.3);
    let (or, rr) = episode(&mut round, 11, 0.3);
    assert_eq!(og, or);
    assert_eq!(rg, rr);
    assert_eq!(grid.core().grid().state().bus_voltage_pu, round.core().grid().state().bus_voltage_pu);
}

#[test]
fn round_mode_steps_every_round() {
    let mut env = MarketEnv::new(&spec(r#"{"grid": "none", "episode_steps": 2, "rounds_per_step": 3, "step_unit": "round"}"#)).unwrap();
    assert_eq!(env.max_episode_len(), 6);
    let (obs, rew) = episode(&mut env, 0, 0.2);
    assert_eq!(rew.len(), 6, "2 grid steps × 3 rounds");
    // The `round` feature counts the rounds of the coming step.
    let round: Vec<f32> = obs.iter().map(|o| o[9]).collect();
    assert_eq!(round, vec![0.0, 1.0 / 3.0, 2.0 / 3.0, 0.0, 1.0 / 3.0, 2.0 / 3.0, 0.0]);
}

#[test]
fn same_seed_same_episode_and_noise_differs_across_seeds() {
    let s = spec(r#"{"grid": "none", "episode_steps": 5, "demand_noise": 0.1}"#);
    let mut a = MarketEnv::new(&s).unwrap();
    let mut b = MarketEnv::new(&s).unwrap();
    assert_eq!(episode(&mut a, 7, 0.1), episode(&mut b, 7, 0.1));
    assert_ne!(episode(&mut a, 7, 0.1).1, episode(&mut b, 8, 0.1).1);
}

#[test]
fn vectorised_equals_lone_environments_with_autoreset() {
    let s = spec(r#"{"grid": "ac", "episode_steps": 3, "learners": ["g830", "g848"]}"#);
    let proto = MarketEnv::new(&s).unwrap();
    let (n, l, o) = (5, proto.n_learners(), proto.obs_dim());
    let mut vec_env = VecEnv::new(&proto, n, 2, AutoReset::SameStep).unwrap();
    let mut lone: Vec<MarketEnv> = (0..n).map(|_| proto.clone()).collect();
    let mut vobs = vec![0f32; n * l * o];
    vec_env.reset(Some(100), &mut vobs).unwrap();
    let mut lobs = vec![0f32; n * l * o];
    for (k, env) in lone.iter_mut().enumerate() {
        env.reset(Some(100 + k as u64), &mut lobs[k * l * o..(k + 1) * l * o]).unwrap();
    }
    assert_eq!(vobs, lobs);
    let (mut rew, mut term, mut trunc, mut fin) = (vec![0f64; n * l], vec![false; n], vec![false; n], vec![0f32; n * l * o]);
    for step in 0..8 {
        // Different actions per environment and learner, varying with the step.
        let actions: Vec<f64> = (0..n * l).map(|i| ((i * 7 + step * 3) % 10) as f64 * 0.15).collect();
        vec_env
            .step(&actions, StepBuffers { obs: &mut vobs, rewards: &mut rew, terminated: &mut term, truncated: &mut trunc, final_obs: &mut fin })
            .unwrap();
        for (k, env) in lone.iter_mut().enumerate() {
            let mut obs = vec![0f32; l * o];
            let mut r = vec![0f64; l];
            let (te, tr) = env.step(&actions[k * l..(k + 1) * l], &mut obs, &mut r).unwrap();
            assert_eq!(r, rew[k * l..(k + 1) * l], "rewards, env {k}, step {step}");
            assert_eq!((te, tr), (term[k], trunc[k]));
            if te || tr {
                assert_eq!(obs, fin[k * l * o..(k + 1) * l * o], "final observation, env {k}");
                env.reset(None, &mut obs).unwrap();
            }
            assert_eq!(obs, vobs[k * l * o..(k + 1) * l * o], "observation, env {k}, step {step}");
        }
        assert_eq!(term.iter().filter(|t| **t).count(), if step % 3 == 2 { n } else { 0 });
    }
}

#[test]
fn next_step_autoreset_resets_on_the_following_step() {
    let proto = MarketEnv::new(&spec(r#"{"grid": "none", "episode_steps": 2}"#)).unwrap();
    let (l, o) = (proto.n_learners(), proto.obs_dim());
    let mut v = VecEnv::new(&proto, 2, 1, AutoReset::NextStep).unwrap();
    let mut obs = vec![0f32; 2 * l * o];
    v.reset(Some(0), &mut obs).unwrap();
    let first = obs.clone();
    let (mut rew, mut term, mut trunc, mut fin) = (vec![0f64; 2 * l], vec![false; 2], vec![false; 2], vec![0f32; 2 * l * o]);
    let acts = vec![0.0; 2 * l];
    for _ in 0..2 {
        v.step(&acts, StepBuffers { obs: &mut obs, rewards: &mut rew, terminated: &mut term, truncated: &mut trunc, final_obs: &mut fin }).unwrap();
    }
    assert_eq!(term, vec![true, true]);
    v.step(&acts, StepBuffers { obs: &mut obs, rewards: &mut rew, terminated: &mut term, truncated: &mut trunc, final_obs: &mut fin }).unwrap();
    assert_eq!(term, vec![false, false]);
    assert!(rew.iter().all(|r| *r == 0.0));
    // Reset with the continued stream: same layout as a first observation (time 0, no prices).
    for k in 0..2 * l {
        assert_eq!(obs[k * o + 6], 0.0, "progress back to 0");
        assert_eq!(obs[k * o], first[k * o]);
    }
}

#[test]
fn several_threads_step_the_environments() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let proto = MarketEnv::new(&spec(r#"{"grid": "ac", "episode_steps": 24}"#)).unwrap();
    let (l, o) = (proto.n_learners(), proto.obs_dim());
    let n = 16;
    let mut v = VecEnv::new(&proto, n, 2, AutoReset::SameStep).unwrap();
    assert_eq!(v.num_threads(), 2);
    let mut obs = vec![0f32; n * l * o];
    v.reset(Some(0), &mut obs).unwrap();
    let (mut rew, mut term, mut trunc, mut fin) = (vec![0f64; n * l], vec![false; n], vec![false; n], vec![0f32; n * l * o]);
    v.clear_thread_stats();
    for _ in 0..48 {
        v.step(&vec![0.1; n * l], StepBuffers { obs: &mut obs, rewards: &mut rew, terminated: &mut term, truncated: &mut trunc, final_obs: &mut fin }).unwrap();
        if v.threads_used() >= 2 {
            break;
        }
    }
    // Both pool threads take work even on one core (rayon splits the batch); on 2+ cores they also run at once.
    assert!(v.threads_used() >= 2 || cores < 2, "only {} thread(s) stepped environments", v.threads_used());
}

#[test]
fn do_nothing_scenario_learns_through_the_same_interface() {
    let mut env = MarketEnv::new(&spec(r#"{"scenario": "do-nothing", "action": "curve", "learners": ["agent0", "agent3"]}"#)).unwrap();
    assert_eq!(env.n_learners(), 2);
    assert_eq!(env.act_dim(), 4);
    assert_eq!(env.obs_dim(), 11, "no auction, no congestion flags");
    assert_eq!(env.episode_steps(), 24, "the scenario's steps");
    let (obs, rew) = episode(&mut env, 0, 1.0);
    assert_eq!(rew.len(), 24);
    assert!(rew.iter().flatten().all(|r| *r == 0.0), "the do-nothing market pays nothing");
    for o in &obs {
        in_bounds(&env, o);
    }
    // Every agent learns by default.
    let all = MarketEnv::new(&spec(r#"{"scenario": "do-nothing"}"#)).unwrap();
    assert_eq!(all.n_learners(), 10);
}

#[test]
fn load_agents_learn_their_multiplier_on_a_feeder() {
    let mut env =
        MarketEnv::new(&spec(r#"{"scenario": "ieee34-day", "learners": ["s860"], "episode_steps": 2, "voltage_penalty": 1.0}"#)).unwrap();
    assert_eq!(env.action_kind().name(), "load");
    let (_, rew) = episode(&mut env, 0, 2.0);
    assert!(rew.iter().flatten().all(|r| r.is_finite() && *r <= 0.0));
}

#[test]
fn errors_name_what_is_wrong() {
    let e = MarketEnv::new(&spec(r#"{"learners": ["nobody"], "grid": "none"}"#)).err().unwrap();
    assert!(e.contains("no agent named 'nobody'") && e.contains("g802"), "{e}");
    let e = MarketEnv::new(&spec(r#"{"scenario": "ieee34-day", "learners": ["s860"], "action": "markup_index"}"#)).err().unwrap();
    assert!(e.contains("s860") && e.contains("\"load\""), "{e}");
    assert!(EnvSpec::from_json(r#"{"step_unit": "week"}"#).unwrap_err().contains("step_unit"));
    assert!(EnvSpec::from_json(r#"{"bogus": 1}"#).unwrap_err().contains("bogus"));
    let mut env = MarketEnv::new(&spec(r#"{"grid": "none"}"#)).unwrap();
    let mut obs = vec![0f32; 4 * env.obs_dim()];
    env.reset(Some(0), &mut obs).unwrap();
    let mut r = vec![0f64; 4];
    assert!(env.step(&[0.0; 3], &mut obs, &mut r).unwrap_err().contains("expected 4"));
    assert!(env.step(&[f64::NAN, 0.0, 0.0, 0.0], &mut obs, &mut r).unwrap_err().contains("not finite"));
}

#[test]
fn discrete_and_curve_actions() {
    let mut env = MarketEnv::new(&spec(r#"{"grid": "none", "action": "markup_index", "markup_levels": [0, 0.5, 1.0], "learners": ["g848"], "episode_steps": 1}"#)).unwrap();
    assert_eq!(env.action_kind().discrete(), Some(3));
    let mut obs = vec![0f32; env.obs_dim()];
    env.reset(Some(0), &mut obs).unwrap();
    let mut r = vec![0f64; 1];
    env.step(&[1.0], &mut obs, &mut r).unwrap();
    assert_eq!(env.learner_info()[0].markup, 0.5);
    let mut env = MarketEnv::new(&spec(r#"{"grid": "none", "action": "curve", "learners": ["g848"], "episode_steps": 1}"#)).unwrap();
    assert_eq!(env.act_dim(), 4);
    env.reset(Some(0), &mut obs).unwrap();
    // Unsorted on purpose: the curve is sorted before it is sent.
    env.step(&[2.0, 7.0, 0.0, 930.0], &mut obs, &mut r).unwrap();
    assert!(env.learner_info()[0].quantity_kw < 0.0, "the truthful curve sells");
}

#[test]
fn lean_feeder_grid_solves_the_same_power_flow_as_the_distribution_grid() {
    let base = r#""episode_steps": 5, "learners": ["g830", "g848"], "others": "scripted""#;
    let mut lean = MarketEnv::new(&spec(&format!(r#"{{{base}, "grid": "ac"}}"#))).unwrap();
    let mut full = MarketEnv::new(&spec(&format!(r#"{{{base}, "grid": "ac-full"}}"#))).unwrap();
    let (mut ol, mut of) = (vec![0f32; 2 * lean.obs_dim()], vec![0f32; 2 * full.obs_dim()]);
    let (mut rl, mut rf) = (vec![0f64; 2], vec![0f64; 2]);
    lean.reset(Some(9), &mut ol).unwrap();
    full.reset(Some(9), &mut of).unwrap();
    for step in 0..5 {
        let a = [0.2 * step as f64, 1.5 - 0.3 * step as f64];
        lean.step(&a, &mut ol, &mut rl).unwrap();
        full.step(&a, &mut of, &mut rf).unwrap();
        assert_eq!((&ol, &rl), (&of, &rf), "step {step}");
        let (vl, vf) = (&lean.core().grid().state().bus_voltage_pu, &full.core().grid().state().bus_voltage_pu);
        assert_eq!(vl, vf, "bus voltages, step {step}");
        assert!(vl.iter().filter(|v| v.is_finite() && **v > 0.0).all(|v| (0.8..1.2).contains(v)));
    }
}

#[test]
fn sweep_runs_are_deterministic_and_threads_do_not_change_them() {
    use ogg_vector::sweep::{run_many, run_one, Run};
    let runs: Vec<Run> = [("nodal", 0.0), ("nodal", 0.75), ("rent_to_buyers", 0.75)]
        .iter()
        .flat_map(|(settlement, m)| {
            (0..2).map(move |seed| Run {
                spec_json: format!(r#"{{"grid": "none", "learners": ["g848"], "others": "scripted", "settlement": "{settlement}", "episode_steps": 24}}"#),
                action: *m,
                seed,
            })
        })
        .collect();
    let one = run_many(&runs, 1).unwrap();
    let two = run_many(&runs, 2).unwrap();
    assert_eq!(one, two);
    assert_eq!(one[0].as_ref().unwrap(), &run_one(&runs[0]).unwrap());
    let r = |i: usize| one[i].as_ref().unwrap().clone();
    assert_eq!(r(0).steps, 24);
    // The evening peak congests the trunk; a markup all day raises the tail's price
    // (but loses sales off-peak: a fixed markup is no strategy, see examples/rl).
    assert!(r(2).congested_steps > 0);
    assert!(r(2).mean_price[0] > r(0).mean_price[0], "{} vs {}", r(2).mean_price[0], r(0).mean_price[0]);
    assert!(r(2).reward[0] < r(0).reward[0]);
    // The settlement moves the congestion rent, not the dispatch (same welfare).
    assert_eq!(r(4).welfare, r(2).welfare);
}

#[test]
fn uc3_dlmp_market_learners() {
    let mut env = MarketEnv::new(&spec(r#"{"scenario": "uc3", "grid": "ac", "episode_steps": 4}"#)).unwrap();
    let kinds = env.learner_kinds();
    assert!(kinds.contains(&"producer") && kinds.contains(&"dr"), "{kinds:?}");
    assert_eq!(env.obs_dim(), 11, "no congestion flags for the DLMP market");
    let (obs, rew) = episode(&mut env, 0, 0.0);
    for o in &obs {
        in_bounds(&env, o);
    }
    assert!(rew.iter().flatten().all(|r| r.is_finite()));
    assert!(env.learner_info().iter().any(|i| i.quantity_kw != 0.0), "the OPF dispatches the participants");
}

#[test]
fn uc2_p2p_market_learners_bid_price_levels() {
    let mut env = MarketEnv::new(&spec(r#"{"scenario": "uc2", "grid": "ac", "episode_steps": 52, "step_unit": "round"}"#)).unwrap();
    assert!(env.n_learners() > 10, "one home per load bus");
    assert_eq!(env.action_kind().name(), "markup_index");
    let levels = env.action_kind().discrete().unwrap();
    assert!(levels > 2);
    // Bid the highest level everywhere. By midday (52 quarter hours) homes with
    // PV surplus trade: each block's bargaining rounds are steps of their own.
    let (obs, rew) = episode(&mut env, 0, (levels - 1) as f64);
    assert!(rew.len() > 52, "{} steps", rew.len());
    for o in &obs {
        in_bounds(&env, o);
    }
    assert!(rew.iter().flatten().all(|r| r.is_finite()));
    let e = MarketEnv::new(&spec(r#"{"scenario": "uc2", "action": "curve"}"#)).err().unwrap();
    assert!(e.contains("markup_index"), "{e}");
}
