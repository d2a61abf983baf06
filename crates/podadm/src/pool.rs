//! `podadm pool …`: the warm pool's verbs over the engine.

use anyhow::Result;
use aurora_engine::pool::POD_INFRA_POOL;
use aurora_engine::Engine;

use crate::cli::{Format, PoolCommand};
use crate::views::{network_mode_text, print_table};

pub fn pool(engine: &Engine, command: &PoolCommand) -> Result<u8> {
    match command {
        PoolCommand::Set {
            image,
            pod,
            size,
            network,
        } => {
            let network = crate::flags::network(network.as_deref())?;
            let key = pool_key(image.as_deref(), *pod);
            let config = engine.pool_set(&key, *size, network)?;
            println!("{}", config.image);
        }
        PoolCommand::Ls { format } => {
            let pools = engine.pool_list()?;
            if *format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&pools)?);
            } else {
                let rows: Vec<[String; 5]> = pools
                    .iter()
                    .map(|p| {
                        [
                            p.config.image.clone(),
                            network_mode_text(&p.config.network),
                            p.config.size.to_string(),
                            p.ready.to_string(),
                            p.filling.to_string(),
                        ]
                    })
                    .collect();
                print_table(&["IMAGE", "NETWORK", "SIZE", "READY", "FILLING"], &rows);
            }
        }
        PoolCommand::Rm { images, pod } => {
            let mut keys = images.clone();
            if *pod {
                keys.push(POD_INFRA_POOL.to_string());
            }
            return crate::containers::each(&keys, |image| {
                engine.pool_remove(image)?;
                println!("{image}");
                Ok(())
            });
        }
        PoolCommand::Refill => engine.refill()?,
    }
    Ok(0)
}

/// The engine's key of the pool: the image, or the pool of pods' infra sandboxes.
fn pool_key(image: Option<&str>, pod: bool) -> String {
    match image {
        Some(image) if !pod => image.to_string(),
        _ => POD_INFRA_POOL.to_string(),
    }
}
