//! Checks a run makes against the dataset before any image is decoded: a setting that no
//! image of the dataset can satisfy fails at once, naming the field, instead of skipping
//! every image one by one (or, before `on_error` covered crops, ending a run mid-way).

use super::error::RunError;
use super::validate::Plan;
use crate::data::ImageEntry;

/// How many images, spread over the dataset, the crop is tried against. A few odd-sized
/// images are bad input for `on_error`; a crop that fits none of these misfits the dataset.
const SAMPLES: usize = 8;

/// Fails when the plan's crop box fits none of a few images spread over `entries`
/// (their sizes read from the file headers). Images whose header
/// cannot be read are left to the Decode stage and its `on_error`.
///
/// # Errors
/// [`RunError::CropDoesNotFit`].
pub fn check_crop(plan: &Plan, entries: &[ImageEntry]) -> Result<(), RunError> {
    let Some(crop) = plan.resize.as_ref().and_then(|r| r.crop) else {
        return Ok(());
    };
    let mut sizes = sizes(plan, entries);
    let fits = |w: u32, h: u32| {
        u64::from(crop.x) + u64::from(crop.width) <= u64::from(w)
            && u64::from(crop.y) + u64::from(crop.height) <= u64::from(h)
    };
    let Some(first) = sizes.next() else {
        return Ok(());
    };
    if fits(first.1, first.2) || sizes.any(|(_, w, h)| fits(w, h)) {
        return Ok(());
    }
    Err(RunError::CropDoesNotFit {
        field: format!("{}.crop", plan.pipeline.stage_path("Resize")),
        crop: format!("{},{} {}x{}", crop.x, crop.y, crop.width, crop.height),
        image: first.0,
        // Validation refuses a crop after half-scale decoding, so this is the file's size.
        size: format!("{}x{}", first.1, first.2),
    })
}

/// The most common size among a few images spread over `entries` (after Decode's
/// halving): the size a pipeline without `Resize` expects of every image. `None` when no
/// sampled header can be read.
pub fn common_size(plan: &Plan, entries: &[ImageEntry]) -> Option<(u32, u32)> {
    let mut counts: Vec<((u32, u32), usize)> = Vec::new();
    for (_, w, h) in sizes(plan, entries) {
        match counts.iter_mut().find(|(s, _)| *s == (w, h)) {
            Some((_, n)) => *n += 1,
            None => counts.push(((w, h), 1)),
        }
    }
    // The first sampled size wins a tie, so the answer does not depend on the sort.
    let most = counts.iter().map(|(_, n)| *n).max()?;
    counts.into_iter().find(|(_, n)| *n == most).map(|(s, _)| s)
}

/// Sizes of a few images spread over `entries`, as the stages after Decode see them.
fn sizes<'a>(
    plan: &'a Plan,
    entries: &'a [ImageEntry],
) -> impl Iterator<Item = (std::path::PathBuf, u32, u32)> + 'a {
    let step = entries.len().div_ceil(SAMPLES).max(1);
    entries.iter().step_by(step).filter_map(|e| {
        let (w, h) = image::image_dimensions(&e.path).ok()?;
        let scale = plan.decode.scale;
        Some((e.path.clone(), scale.apply(w), scale.apply(h)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dir: &std::path::Path, name: &str, side: u32) -> ImageEntry {
        let path = dir.join(format!("{name}.jpg"));
        image::GrayImage::new(side, side).save(&path).expect("save");
        ImageEntry {
            key: crate::data::ImageKey {
                name: name.into(),
                number: 1,
            },
            path,
        }
    }

    fn plan(crop: &str, decode: &str) -> Plan {
        let ron = format!(
            "Pipeline(stages: [Decode(({decode})), Resize((crop: \
             Some(({crop})))), Sink(Count)])"
        );
        let pipeline =
            crate::pipeline::validate::parse(&ron, std::path::Path::new("t.ron")).expect("ron");
        crate::pipeline::validate::plan(pipeline).expect("plan")
    }

    #[test]
    fn a_crop_that_fits_no_image_names_its_field_and_a_few_odd_ones_pass() {
        let dir = tempfile::tempdir().expect("dir");
        let images: Vec<_> = (0..5)
            .map(|i| entry(dir.path(), &format!("p{i}"), 48))
            .collect();
        let fits = plan("x: 8, y: 8, width: 36, height: 36", "");
        assert!(check_crop(&fits, &images).is_ok());
        // Moved to (20, 20), the same box no longer fits 48x48 images.
        let err = check_crop(&plan("x: 20, y: 20, width: 36, height: 36", ""), &images)
            .expect_err("misfit");
        let text = err.to_string();
        assert!(
            text.contains("stages[1].crop: the crop box 20,20 36x36") && text.contains("is 48x48"),
            "{text}"
        );
        // One odd image among fitting ones is for on_error, not a misfit of the dataset.
        let mut mixed = vec![entry(dir.path(), "odd", 16)];
        mixed.extend(images);
        assert!(check_crop(&fits, &mixed).is_ok());
        // The odd one is outvoted.
        assert_eq!(common_size(&fits, &mixed), Some((48, 48)));
        assert_eq!(common_size(&fits, &[]), None);
    }
}
