package api

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// testPNG is a real PNG of n×n pixels, different for each n.
func testPNG(t testing.TB, n int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for x := 0; x < n; x++ {
		img.Set(x, x, color.RGBA{R: uint8(n), G: uint8(x), B: 200, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
