//! Which stages a build makes: the target and every stage it needs, through `FROM STAGE`
//! and `COPY --from=STAGE`, in file order.

use aurora_containerfile::{Containerfile, InstructionKind, Stage};

use crate::error::{BuildError, Result};

/// The index of the stage `name` names: its `AS` name, or its number.
pub(crate) fn find_stage(file: &Containerfile, name: &str, before: usize) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    file.stages[..before.min(file.stages.len())]
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
        .or_else(|| name.parse::<usize>().ok().filter(|&i| i < before))
}

/// The stages to build, in order, ending with the target.
pub(crate) fn needed(file: &Containerfile, target: Option<&str>) -> Result<Vec<usize>> {
    if file.stages.is_empty() {
        return Err(BuildError::Invalid("the Containerfile has no FROM".into()));
    }
    let last = file.stages.len() - 1;
    let target = match target {
        None => last,
        Some(name) => find_stage(file, name, file.stages.len()).ok_or_else(|| {
            BuildError::Invalid(format!("--target {name:?}: no stage has that name"))
        })?,
    };
    let mut wanted = vec![false; file.stages.len()];
    mark(file, target, &mut wanted);
    Ok((0..=target).filter(|&i| wanted[i]).collect())
}

fn mark(file: &Containerfile, index: usize, wanted: &mut [bool]) {
    if wanted[index] {
        return;
    }
    wanted[index] = true;
    for dep in dependencies(file, &file.stages[index], index) {
        mark(file, dep, wanted);
    }
}

/// Earlier stages `stage` reads from (names that are no stage are images).
fn dependencies(file: &Containerfile, stage: &Stage, index: usize) -> Vec<usize> {
    let mut deps: Vec<usize> = find_stage(file, &stage.from.image, index)
        .into_iter()
        .collect();
    for instruction in &stage.instructions {
        if let InstructionKind::Copy(copy) | InstructionKind::Add(copy) = &instruction.kind {
            if let Some(from) = &copy.from {
                deps.extend(find_stage(file, from, index));
            }
        }
    }
    deps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_target_needs() {
        let file = aurora_containerfile::parse(
            "FROM busybox AS base\nRUN a\nFROM busybox AS unused\nRUN b\n\
             FROM base AS mid\nRUN c\nFROM scratch\nCOPY --from=mid /x /x\n",
        )
        .unwrap();
        assert_eq!(needed(&file, None).unwrap(), [0, 2, 3]);
        assert_eq!(needed(&file, Some("MID")).unwrap(), [0, 2]);
        assert_eq!(needed(&file, Some("unused")).unwrap(), [1]);
        assert!(needed(&file, Some("nope")).is_err());
    }
}
