package sam

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ManifestFormat is the model package format the exporter writes: the
// mask decoder, memory encoder and memory attention take the objects of
// one frame as a batch. The runtime also reads FormatPerObject packages,
// running those graphs once per object.
const ManifestFormat = "vidseg-sam2/2"

// FormatPerObject is the earlier format, whose graphs take one object.
const FormatPerObject = "vidseg-sam2/1"

const manifestName = "manifest.json"

// exportHint tells a user without a model directory how to make one.
const exportHint = "export a model with `/usr/bin/python3 tools/export/export.py` (see docs/exporter.md)"

// Manifest is manifest.json of a model directory (docs/model-package.md).
type Manifest struct {
	Format          string `json:"format"`
	ExporterVersion string `json:"exporter_version"`
	Family          string `json:"family"`
	Variant         string `json:"variant"`
	Precision       string `json:"precision"`
	// FusedAttention names the graphs whose attentions are ONNX Runtime's
	// com.microsoft.MultiHeadAttention node (exporter --attention fused).
	FusedAttention []string `json:"fused_attention,omitempty"`

	ImageSize   int `json:"image_size"`
	MaskSize    int `json:"mask_size"`
	FeatureSize int `json:"feature_size"`
	HiddenDim   int `json:"hidden_dim"`
	MemDim      int `json:"mem_dim"`
	// MemoryTokens is how many latents of MemDim an EdgeTAM memory frame
	// holds (its spatial perceiver's output, folded into the memory
	// encoder); 0 for SAM 2, whose memory frames are MemDim x F x F maps.
	MemoryTokens int `json:"memory_tokens,omitempty"`

	ImageMean [3]float64 `json:"image_mean"`
	ImageStd  [3]float64 `json:"image_std"`

	NumMaskmem          int `json:"num_maskmem"`
	MaxObjPtrsInEncoder int `json:"max_obj_ptrs_in_encoder"`

	SigmoidScaleForMemEnc        float64 `json:"sigmoid_scale_for_mem_enc"`
	SigmoidBiasForMemEnc         float64 `json:"sigmoid_bias_for_mem_enc"`
	BinarizeMaskFromPtsForMemEnc bool    `json:"binarize_mask_from_pts_for_mem_enc"`

	MultimaskOutputInSam            bool    `json:"multimask_output_in_sam"`
	MultimaskOutputForTracking      bool    `json:"multimask_output_for_tracking"`
	MultimaskMinPtNum               int     `json:"multimask_min_pt_num"`
	MultimaskMaxPtNum               int     `json:"multimask_max_pt_num"`
	DynamicMultimaskViaStability    bool    `json:"dynamic_multimask_via_stability"`
	DynamicMultimaskStabilityDelta  float64 `json:"dynamic_multimask_stability_delta"`
	DynamicMultimaskStabilityThresh float64 `json:"dynamic_multimask_stability_thresh"`

	UseMultimaskTokenForObjPtr     bool `json:"use_multimask_token_for_obj_ptr"`
	PredObjScores                  bool `json:"pred_obj_scores"`
	FixedNoObjPtr                  bool `json:"fixed_no_obj_ptr"`
	UseObjPtrsInEncoder            bool `json:"use_obj_ptrs_in_encoder"`
	AddTposEncToObjPtrs            bool `json:"add_tpos_enc_to_obj_ptrs"`
	UseSignedTposEncToObjPtrs      bool `json:"use_signed_tpos_enc_to_obj_ptrs"`
	OnlyObjPtrsInThePastForEval    bool `json:"only_obj_ptrs_in_the_past_for_eval"`
	DirectlyAddNoMemEmbed          bool `json:"directly_add_no_mem_embed"`
	UseMaskInputAsOutputWithoutSam bool `json:"use_mask_input_as_output_without_sam"`

	Samurai Samurai `json:"samurai"`

	Graphs    Graphs                  `json:"graphs"`
	Constants map[string]ConstantSpec `json:"constants"`
	// Files maps every file of the directory except manifest.json to its
	// SHA-256 (lower-case hex).
	Files map[string]string `json:"files"`
	// Fixture is set only for random-weight test exports.
	Fixture *Fixture `json:"fixture,omitempty"`

	// Dir is the directory the manifest was loaded from.
	Dir string `json:"-"`
}

// Samurai holds SAMURAI's defaults for the variant.
type Samurai struct {
	KFScoreWeight               float64 `json:"kf_score_weight"`
	StableFramesThreshold       int     `json:"stable_frames_threshold"`
	StableIoUsThreshold         float64 `json:"stable_ious_threshold"`
	MemoryBankIoUThreshold      float64 `json:"memory_bank_iou_threshold"`
	MemoryBankObjScoreThreshold float64 `json:"memory_bank_obj_score_threshold"`
	MemoryBankKFScoreThreshold  float64 `json:"memory_bank_kf_score_threshold"`
	MaxObjPtrsInEncoder         int     `json:"max_obj_ptrs_in_encoder"`
	// MinObjScoreLogits is SAMURAI's occlusion threshold: masks and
	// pointers count as "object present" above it (SAM 2 uses 0). Nil in
	// packages exported before it was recorded; SAMURAI's configs say -1.
	MinObjScoreLogits *float64 `json:"min_obj_score_logits,omitempty"`
}

// Graphs names the ONNX file of each graph, relative to the model directory.
type Graphs struct {
	ImageEncoder    string `json:"image_encoder"`
	MaskDecoder     string `json:"mask_decoder"`
	MemoryEncoder   string `json:"memory_encoder"`
	MemoryAttention string `json:"memory_attention"`
}

// ConstantSpec locates one tensor in constants.bin.
type ConstantSpec struct {
	Offset int   `json:"offset"` // in float32 elements
	Shape  []int `json:"shape"`
}

// Len is the number of elements of the constant.
func (c ConstantSpec) Len() int {
	n := 1
	for _, d := range c.Shape {
		n *= d
	}
	return n
}

// maxConstant bounds offsets and sizes so that no arithmetic on them
// overflows (constants.bin holds a few KiB).
const maxConstant = 1 << 28

func (c ConstantSpec) valid() bool {
	if c.Offset < 0 || c.Offset > maxConstant || len(c.Shape) == 0 {
		return false
	}
	n := 1
	for _, d := range c.Shape {
		if d <= 0 || d > maxConstant || n > maxConstant/d {
			return false
		}
		n *= d
	}
	return true
}

// Fixture describes how a random-weight test export was made.
type Fixture struct {
	Seed          int64        `json:"seed"`
	RandomWeights bool         `json:"random_weights"`
	Depth         FixtureDepth `json:"depth"`
	DepthReduced  bool         `json:"depth_reduced"`
	// FP16RepresentableWeights: weights rounded to fp16 values and stored
	// as fp16 + Cast (same fp32 math, half the size).
	FP16RepresentableWeights bool `json:"fp16_representable_weights"`
	// Params are parameters set to a scalar after initialization.
	Params map[string]float64 `json:"params"`
	// Standins lists the replacements the exporter made for ops the
	// installed PyTorch or ONNX lack.
	Standins []string `json:"standins"`
}

// FixtureDepth is the reduced architecture depth of a test export; zero
// values mean the variant's own.
type FixtureDepth struct {
	Stages                       []int `json:"stages"`
	GlobalAttBlocks              []int `json:"global_att_blocks"`
	MemoryAttentionLayers        int   `json:"memory_attention_layers"`
	MemoryEncoderFuserLayers     int   `json:"memory_encoder_fuser_layers"`
	MaskDecoderTransformerLayers int   `json:"mask_decoder_transformer_layers"`
}

// Mean is the per-channel normalization mean as float32, ready for
// video.Normalize.
func (m *Manifest) Mean() [3]float32 { return to32(m.ImageMean) }

// Std is the per-channel normalization standard deviation as float32.
func (m *Manifest) Std() [3]float32 { return to32(m.ImageStd) }

// Batched says whether the package's mask decoder, memory encoder and
// memory attention take the objects of a frame as one batch (format
// vidseg-sam2/2) rather than one object per run.
func (m *Manifest) Batched() bool { return m.Format == ManifestFormat }

func to32(v [3]float64) [3]float32 { return [3]float32{float32(v[0]), float32(v[1]), float32(v[2])} }

// ConstantsFile is the name of the constants file in a model directory.
const ConstantsFile = "constants.bin"

// LoadManifest reads dir/manifest.json and checks the directory against it:
// the format, the graph and constant entries, and the SHA-256 of every file.
// Errors name the offending file.
func LoadManifest(dir string) (*Manifest, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("model directory %s does not exist: %s", dir, exportHint)
		}
		return nil, fmt.Errorf("model directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("model path %s is not a directory: %s", dir, exportHint)
	}
	raw, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no %s in %s, so it is not a model directory: %s", manifestName, dir, exportHint)
		}
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, manifestName), err)
	}
	m.Dir = dir
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, manifestName), err)
	}
	if err := m.verifyFiles(); err != nil {
		return nil, fmt.Errorf("model directory %s: %w", dir, err)
	}
	return &m, nil
}

// validate checks the fields the runtime relies on.
func (m *Manifest) validate() error {
	if m.Format != ManifestFormat && m.Format != FormatPerObject {
		if m.Format == "" {
			return fmt.Errorf("no \"format\" field; want %q", ManifestFormat)
		}
		return fmt.Errorf("format %q is not supported; want %q or %q", m.Format, ManifestFormat, FormatPerObject)
	}
	// fp16 and int8 packages keep fp32 inputs and outputs (Casts at the
	// graph edges, quantization inside), so the runtime feeds all the same way.
	switch m.Precision {
	case "", "fp32", "fp16", "int8":
	default:
		return fmt.Errorf("precision %q is not supported (want fp32, fp16 or int8)", m.Precision)
	}
	const maxSize = 1 << 16 // no SAM 2 size comes near; keeps products in range
	for _, f := range []struct {
		name string
		v    int
	}{
		{"image_size", m.ImageSize}, {"mask_size", m.MaskSize}, {"feature_size", m.FeatureSize},
		{"hidden_dim", m.HiddenDim}, {"mem_dim", m.MemDim}, {"num_maskmem", m.NumMaskmem},
		{"max_obj_ptrs_in_encoder", m.MaxObjPtrsInEncoder},
	} {
		if f.v <= 0 || f.v > maxSize {
			return fmt.Errorf("%s is %d; want a positive number up to %d", f.name, f.v, maxSize)
		}
	}
	if m.HiddenDim%m.MemDim != 0 {
		return fmt.Errorf("hidden_dim %d is not a multiple of mem_dim %d", m.HiddenDim, m.MemDim)
	}
	if err := m.validateFamily(); err != nil {
		return err
	}
	for i, s := range m.ImageStd {
		if s <= 0 {
			return fmt.Errorf("image_std[%d] is %g; want > 0", i, s)
		}
	}
	for _, g := range m.graphList() {
		if g.file == "" {
			return fmt.Errorf("graphs.%s is missing", g.key)
		}
		if _, ok := m.Files[g.file]; !ok {
			return fmt.Errorf("graph %s (%s) has no entry in \"files\"", g.key, g.file)
		}
	}
	if len(m.Constants) > 0 {
		if _, ok := m.Files[ConstantsFile]; !ok {
			return fmt.Errorf("%s has no entry in \"files\"", ConstantsFile)
		}
	}
	for name, c := range m.Constants {
		if !c.valid() {
			return fmt.Errorf("constant %s: bad offset %d or shape %v", name, c.Offset, c.Shape)
		}
	}
	for name, sum := range m.Files {
		if name == "" || name != filepath.Base(name) || name == manifestName || strings.HasPrefix(name, ".") {
			return fmt.Errorf("files: bad file name %q", name)
		}
		if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("files: %s: %q is not a SHA-256 in hex", name, sum)
		}
	}
	return nil
}

// FamilyEdgeTAM is the family of EdgeTAM packages: a SAM 2 whose memory
// frames are perceiver latents (MemoryTokens of MemDim each).
const FamilyEdgeTAM = "edgetam"

// validateFamily checks the fields that depend on the model family.
func (m *Manifest) validateFamily() error {
	if m.Family != FamilyEdgeTAM {
		if m.MemoryTokens != 0 {
			return fmt.Errorf("memory_tokens is %d in a %q package; only family %q has memory latents", m.MemoryTokens, m.Family, FamilyEdgeTAM)
		}
		return nil
	}
	if m.MemoryTokens <= 0 || m.MemoryTokens > 1<<16 {
		return fmt.Errorf("family %q needs memory_tokens (latents per memory frame), got %d", FamilyEdgeTAM, m.MemoryTokens)
	}
	if m.Format != ManifestFormat {
		return fmt.Errorf("family %q needs format %q, got %q", FamilyEdgeTAM, ManifestFormat, m.Format)
	}
	return nil
}

// MemoryFrameShape is the shape of one object's memory frame (one of the
// memory encoder's outputs): [mem_dim, F, F] for SAM 2, [memory_tokens,
// mem_dim] for EdgeTAM.
func (m *Manifest) MemoryFrameShape() []int64 {
	if m.MemoryTokens > 0 {
		return []int64{int64(m.MemoryTokens), int64(m.MemDim)}
	}
	return []int64{int64(m.MemDim), int64(m.FeatureSize), int64(m.FeatureSize)}
}

// MemoryFrameLen is the number of values of one memory frame.
func (m *Manifest) MemoryFrameLen() int {
	n := 1
	for _, d := range m.MemoryFrameShape() {
		n *= int(d)
	}
	return n
}

type graphEntry struct{ key, file string }

func (m *Manifest) graphList() []graphEntry {
	return []graphEntry{
		{"image_encoder", m.Graphs.ImageEncoder},
		{"mask_decoder", m.Graphs.MaskDecoder},
		{"memory_encoder", m.Graphs.MemoryEncoder},
		{"memory_attention", m.Graphs.MemoryAttention},
	}
}

// verifyFiles checks that the directory holds exactly the listed files and
// that each has the listed SHA-256.
func (m *Manifest) verifyFiles() error {
	entries, err := os.ReadDir(m.Dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if name == manifestName {
			continue
		}
		if _, ok := m.Files[name]; !ok {
			what := "file"
			if strings.HasSuffix(name, ".onnx") {
				what = "graph"
			}
			return fmt.Errorf("unknown %s %s is not listed in %s (a package holds only the files its manifest lists)", what, name, manifestName)
		}
	}
	names := make([]string, 0, len(m.Files))
	for name := range m.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		got, err := fileSHA256(filepath.Join(m.Dir, name))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("file %s listed in %s is missing", name, manifestName)
			}
			return fmt.Errorf("file %s: %w", name, err)
		}
		if !strings.EqualFold(got, m.Files[name]) {
			return fmt.Errorf("file %s: SHA-256 mismatch: manifest says %s, file has %s (corrupt or replaced; re-export the model)", name, m.Files[name], got)
		}
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
