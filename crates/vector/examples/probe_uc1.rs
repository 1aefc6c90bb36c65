//! Prints a UC1 learner's daily reward for fixed markups (a quick look at the
//! landscape a learner faces): `probe_uc1 [learner] [grid ac|none]`.
use ogg_vector::{EnvSpec, MarketEnv};

fn main() {
    let learner = std::env::args().nth(1).unwrap_or("g848".into());
    let grid = std::env::args().nth(2).unwrap_or("ac".into());
    let others = std::env::args().nth(3).unwrap_or("truthful".into());
    let spec = EnvSpec::from_json(&format!(r#"{{"learners": ["{learner}"], "grid": "{grid}", "others": "{others}"}}"#)).expect("spec");
    let mut env = MarketEnv::new(&spec).expect("env");
    let (l, o) = (env.n_learners(), env.obs_dim());
    let mut obs = vec![0f32; l * o];
    let mut rew = vec![0f64; l];
    println!("{} learners, obs {:?}", l, env.obs_names());
    let mut best = vec![(f64::NEG_INFINITY, 0.0); env.episode_steps()];
    for m in [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0] {
        env.reset(Some(1), &mut obs).unwrap();
        let mut total = 0.0;
        let mut per_hour = Vec::new();
        loop {
            let (te, tr) = env.step(&vec![m; l], &mut obs, &mut rew).unwrap();
            total += rew[0];
            let h = per_hour.len();
            if rew[0] > best[h].0 {
                best[h] = (rew[0], m);
            }
            per_hour.push(format!("{:.1}", rew[0]));
            if te || tr {
                break;
            }
        }
        let info = env.learner_info();
        println!("markup {m:4.2}: day reward {total:8.2}  last price {:.2} q {:.0} | hours {}", info[0].price, info[0].quantity_kw, per_hour.join(" "));
    }
    let oracle: f64 = best.iter().map(|b| b.0).sum();
    println!("per-hour best markup: {:?}", best.iter().map(|b| b.1).collect::<Vec<_>>());
    println!("oracle (best markup each hour): day reward {oracle:.2}");
}
