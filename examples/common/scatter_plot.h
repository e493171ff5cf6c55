/* Scatter plots of 2-D point sets into an RGB image, for the example
 * programs (not part of libdiffuse).
 *
 * Layout: an optional title strip on top, then `panels` square panels side
 * by side (e.g. "data" and "samples"), each showing the square
 * [−extent, extent]² with y pointing up: white background, light grid lines
 * at every integer coordinate, slightly darker axes through 0, a grey frame.
 * Points are drawn as small translucent dots (3 × 3 pixels, 55 % opacity, so
 * dense regions look darker); points outside the square or not finite are
 * skipped. Text uses a built-in 5 × 7 pixel font with a descender row
 * (printable ASCII; other characters are shown as '?').
 *
 *     scatter_plot plot;
 *     if (scatter_plot_init(&plot, 2, 320, 3.0, "swiss_roll, step 5000") == PNG_WRITER_OK) {
 *         scatter_plot_points(&plot, 0, data, n, SCATTER_BLUE);
 *         scatter_plot_label(&plot, 0, "data");
 *         scatter_plot_points(&plot, 1, samples, n, SCATTER_ORANGE);
 *         scatter_plot_label(&plot, 1, "samples");
 *         status = scatter_plot_save(&plot, "swiss_roll.png");
 *         scatter_plot_free(&plot);
 *     }
 *
 * Thread-safety: no global state; a plot is used by one thread at a time. */
#ifndef EXAMPLES_SCATTER_PLOT_H
#define EXAMPLES_SCATTER_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "png_writer.h"

typedef struct scatter_color {
    uint8_t r, g, b;
} scatter_color;

#define SCATTER_BLUE ((scatter_color){31, 119, 180})
#define SCATTER_ORANGE ((scatter_color){255, 127, 14})
#define SCATTER_GREEN ((scatter_color){44, 160, 44})
#define SCATTER_RED ((scatter_color){214, 39, 40})

/* Limits accepted by scatter_plot_init. */
#define SCATTER_MAX_PANELS 8
#define SCATTER_MIN_PANEL_SIZE 32
#define SCATTER_MAX_PANEL_SIZE 4096

typedef struct scatter_plot {
    uint32_t width, height; /* of the whole image, in pixels */
    uint32_t panels;        /* number of panels */
    uint32_t panel_size;    /* each panel is panel_size × panel_size pixels */
    uint32_t title_height;  /* 0 without a title strip */
    double extent;          /* each panel shows [−extent, extent]² */
    uint8_t *rgb;           /* width · height · 3 bytes, rows top to bottom; owned */
} scatter_plot;

/* Allocates a white image with `panels` (1..SCATTER_MAX_PANELS) empty panels
 * of panel_size (SCATTER_MIN_PANEL_SIZE..SCATTER_MAX_PANEL_SIZE) pixels
 * showing [−extent, extent]² (extent finite, > 0), and, when `title` is not
 * NULL, a title strip with that text centred (cut off at the image edge
 * when too long). On failure *plot is zeroed, so
 * scatter_plot_free is still safe.
 * Returns PNG_WRITER_OK, PNG_WRITER_ERROR_ARGUMENT or PNG_WRITER_ERROR_MEMORY. */
png_writer_status scatter_plot_init(scatter_plot *plot, uint32_t panels, uint32_t panel_size,
                                    double extent, const char *title);

/* Draws n points xy[2i], xy[2i+1] (row-major n × 2) into panel `panel`
 * (0-based) in `color`. Returns the number of points drawn (those inside the
 * panel's square), or 0 when the plot, panel or xy is invalid. */
size_t scatter_plot_points(scatter_plot *plot, uint32_t panel, const float *xy, size_t n,
                           scatter_color color);

/* Writes `text` in the top-left corner of panel `panel`, in dark grey. Text
 * wider than the panel is cut off. Invalid arguments are ignored. */
void scatter_plot_label(scatter_plot *plot, uint32_t panel, const char *text);

/* Saves the image as an RGB PNG (see png_writer.h). */
png_writer_status scatter_plot_save(const scatter_plot *plot, const char *path);

/* Releases the image; *plot is zeroed. NULL is a no-op. */
void scatter_plot_free(scatter_plot *plot);

#endif
