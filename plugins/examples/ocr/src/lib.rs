//! PP-OCR inside the sandbox: a PNG or JPEG in (grayscale, palette, 16-bit
//! or alpha PNG; baseline, progressive or CMYK JPEG; turned upright by its
//! EXIF orientation), text boxes and recognised text out. Decoding, resizing, box finding and CTC decoding run in the
//! guest ([`image`], [`pipeline`]); the three PP-OCR models run on the host
//! through wasi-nn, opened by the BLAKE3 hashes of `models/models.toml`.
//!
//! Output (`application/json`):
//!
//! ```json
//! {"text": "line one\nline two",
//!  "lines": [{"text": "line one", "score": 0.98, "box": [x0, y0, x1, y1], "rotated": false}]}
//! ```
//!
//! Parameters: `box-thresh` (default 0.5), `max-side` (default 960).

pub mod image;
pub mod pipeline;

use clusterai_plugin_sdk::nn::{Model, Tensor};
use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, log};
use serde_json::json;

use pipeline::{Infer, Settings, Stage};

/// The PP-OCRv4 text detector (pinned in the model manifest).
pub const DET_HASH: &str = clusterai_plugin_sdk::models::PPOCR_DET;
/// The PP-OCR direction classifier (pinned in the model manifest).
pub const CLS_HASH: &str = clusterai_plugin_sdk::models::PPOCR_CLS;
/// The PP-OCRv4 text recogniser (pinned in the model manifest).
pub const REC_HASH: &str = clusterai_plugin_sdk::models::PPOCR_REC;

/// The recogniser's dictionary: the `character` entry of the rec model's
/// metadata, one character per line (wasi-nn cannot read model metadata).
pub const DICT: &str = include_str!("ppocr_keys_v1.txt");

/// The plugin.
pub struct Ocr;

struct Models {
    det: Model,
    cls: Model,
    rec: Model,
}

impl Infer for Models {
    fn infer(
        &mut self,
        stage: Stage,
        dims: &[u32],
        x: Vec<f32>,
    ) -> Result<(Vec<u32>, Vec<f32>), String> {
        let model = match stage {
            Stage::Det => &self.det,
            Stage::Cls => &self.cls,
            Stage::Rec => &self.rec,
        };
        let input = Tensor::from_f32(dims, &x).map_err(|e| e.to_string())?;
        let outputs = model
            .session()
            .and_then(|s| s.compute(vec![("x".into(), input)]))
            .map_err(|e| format!("{stage:?}: {e}"))?;
        let name = outputs
            .names()
            .next()
            .ok_or_else(|| format!("{stage:?}: the model returned no output"))?
            .to_string();
        let out = outputs.get(&name).map_err(|e| e.to_string())?;
        Ok((out.dims(), out.to_f32().map_err(|e| e.to_string())?))
    }
}

impl Plugin for Ocr {
    fn describe() -> PluginInfo {
        PluginInfo::new("ocr", env!("CARGO_PKG_VERSION"))
            .description("Finds and reads text in an image (PP-OCRv4 det -> cls -> rec)")
            .accepts("image/png")
            .accepts("image/jpeg")
            .produces("application/json")
            .onnx_model("ppocr-det", DET_HASH)
            .onnx_model("ppocr-cls", CLS_HASH)
            .onnx_model("ppocr-rec", REC_HASH)
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        input.reject_unknown_params(&["box-thresh", "max-side"])?;
        let mut settings = Settings::default();
        settings.box_thresh = input.param_or("box-thresh", settings.box_thresh)?;
        settings.det_max_side = input.param_or("max-side", settings.det_max_side)?;
        if !(0.0..=1.0).contains(&settings.box_thresh) {
            return Err(TaskError::InvalidParam(
                "box-thresh must be within 0..=1".into(),
            ));
        }
        // The detector's declared input limit is 2048 a side.
        if !(32..=2048).contains(&settings.det_max_side) {
            return Err(TaskError::InvalidParam(
                "max-side must be within 32..=2048".into(),
            ));
        }
        let img = image::decode(input.data()).map_err(TaskError::InvalidInput)?;
        log::debug(&format!("image {}x{}", img.width, img.height));
        let mut models = Models {
            det: Model::open(DET_HASH)?,
            cls: Model::open(CLS_HASH)?,
            rec: Model::open(REC_HASH)?,
        };
        let chars = pipeline::charset(DICT);
        let lines =
            pipeline::run(&img, &mut models, &chars, &settings).map_err(TaskError::Inference)?;
        let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        let body = json!({
            "text": text.join("\n"),
            "lines": lines.iter().map(|l| json!({
                "text": l.text,
                "score": (f64::from(l.score) * 1e4).round() / 1e4,
                "box": l.bbox,
                "rotated": l.rotated,
            })).collect::<Vec<_>>(),
        });
        Output::json(&body)
    }
}

#[cfg(target_arch = "wasm32")]
clusterai_plugin_sdk::export_plugin!(Ocr);
