//! `podadm pool …`: the warm pool's verbs over the engine.

use anyhow::Result;
use aurora_engine::Engine;

use crate::cli::{Format, PoolCommand};
use crate::views::{network_mode_text, print_table};

pub fn pool(engine: &Engine, command: &PoolCommand) -> Result<u8> {
    match command {
        PoolCommand::Set {
            image,
            size,
            network,
        } => {
            let network = crate::flags::network(network.as_deref())?;
            let config = engine.pool_set(image, *size, network)?;
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
        PoolCommand::Rm { images } => {
            return crate::containers::each(images, |image| {
                engine.pool_remove(image)?;
                println!("{image}");
                Ok(())
            })
        }
        PoolCommand::Refill => engine.refill()?,
    }
    Ok(0)
}
