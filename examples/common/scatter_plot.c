/* Scatter plots of 2-D point sets into an RGB image (see scatter_plot.h). */
#include "scatter_plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MARGIN 10          /* white border around and between panels, pixels */
#define TITLE_SCALE 2      /* title glyphs are 10 × 16 pixels */
#define TITLE_PADDING 6    /* above the title text */
#define GLYPH_WIDTH 5
#define GLYPH_HEIGHT 8     /* 7 rows above the baseline, 1 for descenders */
#define GLYPH_ADVANCE 6    /* glyph plus one column of space */
#define DOT_ALPHA 0.55     /* opacity of one point */
#define MAX_GRID_LINES 10  /* per half axis; the grid step doubles beyond that */

static const scatter_color grid_grey = {232, 232, 232};
static const scatter_color axis_grey = {195, 195, 195};
static const scatter_color frame_grey = {150, 150, 150};
static const scatter_color text_grey = {40, 40, 40};

/* The classic 5 × 7 font for ASCII 32..126: five column bytes per glyph,
 * bit 0 = top row, bit 7 = the descender row of g, j, p, q, y, ',' and ';'. */
static const uint8_t font5x7[95][GLYPH_WIDTH] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, /*   ! */
    {0x00, 0x07, 0x00, 0x07, 0x00}, {0x14, 0x7F, 0x14, 0x7F, 0x14}, /* " # */
    {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62}, /* $ % */
    {0x36, 0x49, 0x55, 0x22, 0x50}, {0x00, 0x05, 0x03, 0x00, 0x00}, /* & ' */
    {0x00, 0x1C, 0x22, 0x41, 0x00}, {0x00, 0x41, 0x22, 0x1C, 0x00}, /* ( ) */
    {0x14, 0x08, 0x3E, 0x08, 0x14}, {0x08, 0x08, 0x3E, 0x08, 0x08}, /* * + */
    {0x00, 0x80, 0x70, 0x30, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, /* , - */
    {0x00, 0x60, 0x60, 0x00, 0x00}, {0x20, 0x10, 0x08, 0x04, 0x02}, /* . / */
    {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00}, /* 0 1 */
    {0x42, 0x61, 0x51, 0x49, 0x46}, {0x21, 0x41, 0x45, 0x4B, 0x31}, /* 2 3 */
    {0x18, 0x14, 0x12, 0x7F, 0x10}, {0x27, 0x45, 0x45, 0x45, 0x39}, /* 4 5 */
    {0x3C, 0x4A, 0x49, 0x49, 0x30}, {0x01, 0x71, 0x09, 0x05, 0x03}, /* 6 7 */
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x06, 0x49, 0x49, 0x29, 0x1E}, /* 8 9 */
    {0x00, 0x36, 0x36, 0x00, 0x00}, {0x00, 0x80, 0x76, 0x36, 0x00}, /* : ; */
    {0x08, 0x14, 0x22, 0x41, 0x00}, {0x14, 0x14, 0x14, 0x14, 0x14}, /* < = */
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x51, 0x09, 0x06}, /* > ? */
    {0x32, 0x49, 0x79, 0x41, 0x3E}, {0x7E, 0x11, 0x11, 0x11, 0x7E}, /* @ A */
    {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22}, /* B C */
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, {0x7F, 0x49, 0x49, 0x49, 0x41}, /* D E */
    {0x7F, 0x09, 0x09, 0x09, 0x01}, {0x3E, 0x41, 0x49, 0x49, 0x7A}, /* F G */
    {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00}, /* H I */
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, /* J K */
    {0x7F, 0x40, 0x40, 0x40, 0x40}, {0x7F, 0x02, 0x0C, 0x02, 0x7F}, /* L M */
    {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E}, /* N O */
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, /* P Q */
    {0x7F, 0x09, 0x19, 0x29, 0x46}, {0x46, 0x49, 0x49, 0x49, 0x31}, /* R S */
    {0x01, 0x01, 0x7F, 0x01, 0x01}, {0x3F, 0x40, 0x40, 0x40, 0x3F}, /* T U */
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, /* V W */
    {0x63, 0x14, 0x08, 0x14, 0x63}, {0x07, 0x08, 0x70, 0x08, 0x07}, /* X Y */
    {0x61, 0x51, 0x49, 0x45, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x00}, /* Z [ */
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x7F, 0x00}, /* \ ] */
    {0x04, 0x02, 0x01, 0x02, 0x04}, {0x40, 0x40, 0x40, 0x40, 0x40}, /* ^ _ */
    {0x00, 0x01, 0x02, 0x04, 0x00}, {0x20, 0x54, 0x54, 0x54, 0x78}, /* ` a */
    {0x7F, 0x48, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x20}, /* b c */
    {0x38, 0x44, 0x44, 0x48, 0x7F}, {0x38, 0x54, 0x54, 0x54, 0x18}, /* d e */
    {0x08, 0x7E, 0x09, 0x01, 0x02}, {0x18, 0xA4, 0xA4, 0xA4, 0x7C}, /* f g */
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, /* h i */
    {0x40, 0x80, 0x84, 0x7D, 0x00}, {0x7F, 0x10, 0x28, 0x44, 0x00}, /* j k */
    {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x18, 0x04, 0x78}, /* l m */
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, /* n o */
    {0xFC, 0x24, 0x24, 0x24, 0x18}, {0x18, 0x24, 0x24, 0x18, 0xFC}, /* p q */
    {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x20}, /* r s */
    {0x04, 0x3F, 0x44, 0x40, 0x20}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, /* t u */
    {0x1C, 0x20, 0x40, 0x20, 0x1C}, {0x3C, 0x40, 0x30, 0x40, 0x3C}, /* v w */
    {0x44, 0x28, 0x10, 0x28, 0x44}, {0x9C, 0xA0, 0xA0, 0xA0, 0x7C}, /* x y */
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, /* z { */
    {0x00, 0x00, 0x7F, 0x00, 0x00}, {0x00, 0x41, 0x36, 0x08, 0x00}, /* | } */
    {0x08, 0x04, 0x08, 0x10, 0x08},                                 /* ~   */
};

/* Pixel (x, y) := old + α (color − old); pixels outside [0, x_end) × image
 * are ignored, so callers may draw across panel or image edges. */
static void blend(scatter_plot *plot, long x, long y, long x_end, scatter_color color,
                  double alpha)
{
    if (x < 0 || y < 0 || x >= x_end || x >= (long)plot->width || y >= (long)plot->height)
        return;
    uint8_t *p = plot->rgb + ((size_t)y * plot->width + (size_t)x) * 3;
    const uint8_t target[3] = {color.r, color.g, color.b};
    for (int c = 0; c < 3; c++)
        p[c] = (uint8_t)lround(p[c] + alpha * (target[c] - p[c]));
}

static void fill_rect(scatter_plot *plot, long x0, long y0, long w, long h, scatter_color color)
{
    for (long y = y0; y < y0 + h; y++)
        for (long x = x0; x < x0 + w; x++)
            blend(plot, x, y, x0 + w, color, 1.0);
}

/* Text with its top-left corner at (x, y), glyph pixels scale × scale,
 * cut off at column x_end. */
static void draw_text(scatter_plot *plot, long x, long y, long x_end, const char *text,
                      long scale)
{
    for (; *text != '\0'; text++, x += GLYPH_ADVANCE * scale) {
        unsigned char ch = (unsigned char)*text;
        const uint8_t *glyph = font5x7[(ch >= 32 && ch <= 126 ? ch : '?') - 32];
        for (long col = 0; col < GLYPH_WIDTH; col++)
            for (long row = 0; row < GLYPH_HEIGHT; row++)
                if (glyph[col] >> row & 1u)
                    for (long k = 0; k < scale * scale; k++)
                        blend(plot, x + col * scale + k % scale, y + row * scale + k / scale,
                              x_end, text_grey, 1.0);
    }
}

static long panel_left(const scatter_plot *plot, uint32_t panel)
{
    return MARGIN + (long)panel * (long)(plot->panel_size + MARGIN);
}

static long panel_top(const scatter_plot *plot)
{
    return (long)plot->title_height + MARGIN;
}

/* Pixel offset inside a panel of coordinate v ∈ [−extent, extent]
 * (0 at −extent, panel_size − 1 at +extent). */
static double to_panel(const scatter_plot *plot, double v)
{
    return (v + plot->extent) / (2.0 * plot->extent) * (plot->panel_size - 1);
}

/* Grid lines at multiples of `step` (1, doubled until at most
 * MAX_GRID_LINES per half axis), axes through 0, a frame. */
static void draw_panel_background(scatter_plot *plot, uint32_t panel)
{
    long left = panel_left(plot, panel), top = panel_top(plot), size = plot->panel_size;
    double step = 1.0;
    while (plot->extent / step > MAX_GRID_LINES)
        step *= 2.0;
    for (double v = -floor(plot->extent / step) * step; v <= plot->extent; v += step) {
        scatter_color color = v == 0.0 ? axis_grey : grid_grey;
        long offset = lround(to_panel(plot, v));
        fill_rect(plot, left + offset, top, 1, size, color);                /* vertical */
        fill_rect(plot, left, top + (size - 1 - offset), size, 1, color);   /* horizontal */
    }
    fill_rect(plot, left, top, size, 1, frame_grey);
    fill_rect(plot, left, top + size - 1, size, 1, frame_grey);
    fill_rect(plot, left, top, 1, size, frame_grey);
    fill_rect(plot, left + size - 1, top, 1, size, frame_grey);
}

png_writer_status scatter_plot_init(scatter_plot *plot, uint32_t panels, uint32_t panel_size,
                                    double extent, const char *title)
{
    if (plot == NULL)
        return PNG_WRITER_ERROR_ARGUMENT;
    memset(plot, 0, sizeof *plot);
    if (panels < 1 || panels > SCATTER_MAX_PANELS || panel_size < SCATTER_MIN_PANEL_SIZE ||
        panel_size > SCATTER_MAX_PANEL_SIZE || !isfinite(extent) || extent <= 0.0)
        return PNG_WRITER_ERROR_ARGUMENT;
    /* the title text starts TITLE_PADDING below the top; the panels' top
     * margin separates it from the panels */
    uint32_t title_height = title != NULL ? TITLE_PADDING + GLYPH_HEIGHT * TITLE_SCALE : 0;
    uint32_t width = MARGIN + panels * (panel_size + MARGIN);
    uint32_t height = title_height + MARGIN + panel_size + MARGIN;
    uint8_t *rgb = malloc((size_t)width * height * 3);
    if (rgb == NULL)
        return PNG_WRITER_ERROR_MEMORY;
    *plot = (scatter_plot){width, height, panels, panel_size, title_height, extent, rgb};
    memset(rgb, 255, (size_t)width * height * 3); /* white */
    for (uint32_t p = 0; p < panels; p++)
        draw_panel_background(plot, p);
    if (title != NULL) {
        long text_width = (long)strlen(title) * GLYPH_ADVANCE * TITLE_SCALE;
        long x = ((long)width - text_width) / 2;
        draw_text(plot, x > MARGIN ? x : MARGIN, TITLE_PADDING, width, title, TITLE_SCALE);
    }
    return PNG_WRITER_OK;
}

size_t scatter_plot_points(scatter_plot *plot, uint32_t panel, const float *xy, size_t n,
                           scatter_color color)
{
    if (plot == NULL || plot->rgb == NULL || panel >= plot->panels || xy == NULL)
        return 0;
    long left = panel_left(plot, panel), top = panel_top(plot), size = plot->panel_size;
    size_t drawn = 0;
    for (size_t i = 0; i < n; i++) {
        double x = xy[2 * i], y = xy[2 * i + 1];
        if (!(fabs(x) <= plot->extent && fabs(y) <= plot->extent)) /* also drops NaN */
            continue;
        long px = left + lround(to_panel(plot, x));
        long py = top + (size - 1 - lround(to_panel(plot, y)));
        for (long k = 0; k < 9; k++) /* 3 × 3 dot centred on the point */
            blend(plot, px + k % 3 - 1, py + k / 3 - 1, left + size, color, DOT_ALPHA);
        drawn++;
    }
    return drawn;
}

void scatter_plot_label(scatter_plot *plot, uint32_t panel, const char *text)
{
    if (plot == NULL || plot->rgb == NULL || panel >= plot->panels || text == NULL)
        return;
    long scale = plot->panel_size >= 256 ? 2 : 1;
    long left = panel_left(plot, panel);
    draw_text(plot, left + 4, panel_top(plot) + 4, left + plot->panel_size - 1, text, scale);
}

png_writer_status scatter_plot_save(const scatter_plot *plot, const char *path)
{
    if (plot == NULL || plot->rgb == NULL)
        return PNG_WRITER_ERROR_ARGUMENT;
    return png_write_rgb(path, plot->rgb, plot->width, plot->height);
}

void scatter_plot_free(scatter_plot *plot)
{
    if (plot == NULL)
        return;
    free(plot->rgb);
    memset(plot, 0, sizeof *plot);
}
