//! Chain IDs: the identity of a layer together with everything below it (image-spec,
//! config.md). `ChainID(L0) = DiffID(L0)`, `ChainID(Ln) = sha256(ChainID(Ln-1) + " " +
//! DiffID(Ln))`. Two images that share their base layers share these IDs, and so share the
//! storage laid down for them.

use crate::{sha256_digest, Digest};

/// The chain ID of each layer, base first, from the diff IDs in an image config.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut chain: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match chain.last() {
            None => diff_id.clone(),
            Some(below) => sha256_digest(format!("{below} {diff_id}").as_bytes()),
        };
        chain.push(next);
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    #[test]
    fn follows_the_image_spec_formula() {
        let ids = chain_ids(&[d('a'), d('b'), d('c')]);
        let expected = [
            "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            // Values computed independently (Python hashlib) from the spec's formula.
            "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c",
            "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588",
        ];
        let got: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(got, expected);
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn a_shared_base_gives_shared_ids() {
        let one = chain_ids(&[d('a'), d('b'), d('c')]);
        let two = chain_ids(&[d('a'), d('b'), d('e')]);
        assert_eq!(one[..2], two[..2]);
        assert_ne!(one[2], two[2]);
    }
}
