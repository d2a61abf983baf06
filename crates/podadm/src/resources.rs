//! `podadm volume …` and `podadm network …`.

use anyhow::Result;
use aurora_engine::Engine;

use crate::cli::{Format, ListArgs, NamesArgs, NetworkCommand, RemoveArgs, VolumeCommand};
use crate::views::print_table;

pub fn volume(engine: &Engine, command: &VolumeCommand) -> Result<u8> {
    match command {
        VolumeCommand::Create { name, label } => {
            let volume = engine
                .volumes()?
                .create(&aurora_engine::volume::VolumeCreate {
                    name: name.clone(),
                    labels: crate::flags::labels(label)?,
                    ..Default::default()
                })?;
            println!("{}", volume.name);
        }
        VolumeCommand::Ls(ListArgs { quiet, format }) => {
            let volumes = engine.volumes()?.list()?;
            if *quiet {
                volumes.iter().for_each(|v| println!("{}", v.name));
            } else if *format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&volumes)?);
            } else {
                let rows: Vec<[String; 2]> = volumes
                    .iter()
                    .map(|v| [v.driver.clone(), v.name.clone()])
                    .collect();
                print_table(&["DRIVER", "VOLUME NAME"], &rows);
            }
        }
        VolumeCommand::Inspect(NamesArgs { names }) => {
            let volumes = names
                .iter()
                .map(|n| engine.volumes()?.inspect(n).map_err(Into::into))
                .collect::<Result<Vec<_>>>()?;
            println!("{}", serde_json::to_string_pretty(&volumes)?);
        }
        VolumeCommand::Rm(RemoveArgs { force, names }) => {
            return crate::containers::each(names, |name| {
                engine.remove_volume(name, *force)?;
                println!("{name}");
                Ok(())
            })
        }
        VolumeCommand::Prune { .. } => {
            for name in engine.prune_volumes()? {
                println!("{name}");
            }
        }
    }
    Ok(0)
}

pub fn network(engine: &Engine, command: &NetworkCommand) -> Result<u8> {
    match command {
        NetworkCommand::Create {
            name,
            subnet,
            gateway,
            internal,
            disable_dns,
            label,
        } => {
            let network = engine.networks()?.create(&aurora_network::NetworkCreate {
                name: name.clone(),
                subnet: subnet.clone(),
                gateway: gateway.clone(),
                internal: *internal,
                dns: Some(!disable_dns),
                labels: crate::flags::labels(label)?,
                ..Default::default()
            })?;
            println!("{}", network.name);
        }
        NetworkCommand::Ls(ListArgs { quiet, format }) => {
            let networks = engine.networks()?.list()?;
            if *quiet {
                networks.iter().for_each(|n| println!("{}", n.name));
            } else if *format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&networks)?);
            } else {
                let rows: Vec<[String; 3]> = networks
                    .iter()
                    .map(|n| {
                        [
                            n.id.chars().take(12).collect(),
                            n.name.clone(),
                            n.driver.clone(),
                        ]
                    })
                    .collect();
                print_table(&["NETWORK ID", "NAME", "DRIVER"], &rows);
            }
        }
        NetworkCommand::Inspect(NamesArgs { names }) => {
            let networks = names
                .iter()
                .map(|n| engine.networks()?.inspect(n).map_err(Into::into))
                .collect::<Result<Vec<_>>>()?;
            println!("{}", serde_json::to_string_pretty(&networks)?);
        }
        NetworkCommand::Rm(RemoveArgs { force, names }) => {
            return crate::containers::each(names, |name| {
                engine.remove_network(name, *force)?;
                println!("{name}");
                Ok(())
            })
        }
    }
    Ok(0)
}
