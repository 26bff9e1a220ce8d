/* Fused elementwise loops for the engine's hottest passes: one pass over memory where numpy takes several.
 *
 * After its matmuls, a gradient step of TD3's and DDPG's 400-300 networks at batch 256 spends its time in numpy
 * passes over arrays too large for the cache: Adam's ten, a ReLU layer's four forward and three backward,
 * Polyak's three. Measured on the 2-core machine we target (min of 300 calls), numpy's passes against the loop:
 *
 *     Adam, 245k parameters (TD3's twin critics)        279 -> 69 us
 *     bias + ReLU, 256 x 400                             42 -> 8 us
 *     ReLU backward with the bias gradient, 256 x 400    43 -> 20 us
 *     Polyak, 245k parameters                            69 -> 21 us
 *     a weight gradient's kept columns into 400 x 300    105 -> 55 us
 *
 * and a convolution's input gradient (col2im), one slice add per kernel offset against the loop, NatureCNN at
 * batch 32 (min of 30 calls, on a loaded machine): 32 channels 4x4/2 2.3 -> 0.37 ms, 64 channels 3x3 1.0 ->
 * 0.20 ms, 4 input channels 8x8/4 113 -> 2.5 ms.
 *
 * Each loop performs the float operations of the numpy expression it replaces, in the same order and in the
 * arrays' own precision (float32 or float64), so the results are numpy's bits (tests/accel/test_fused.py), and a run
 * gives the numbers it gave before these loops existed. That needs the flags in setup.py: -ffp-contract=off
 * (never a * b + c as one FMA) and no -ffast-math; -fno-math-errno only lets sqrt vectorise.
 *
 * Arrays come through the buffer protocol, so the module needs no numpy headers: each must be C-contiguous
 * (a strided view would be refused, not silently copied) and of the first array's dtype.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Each loop is compiled for AVX-512, AVX2 and the baseline, picked at load time by the CPU: the same bits
 * (every operation is exactly rounded at any vector width), up to twice the speed of SSE2 on the wide loops. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#define CLONED __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONED
#endif

typedef struct {
    Py_buffer views[5];
    int held;
} Buffers;

/* Release the buffers taken; returns NULL, for the error paths. */
static PyObject *release(Buffers *b)
{
    for (int i = 0; i < b->held; i++)
        PyBuffer_Release(&b->views[i]);
    b->held = 0;
    return NULL;
}

/* Take a C-contiguous buffer of `format` ("f", "d", or "intp" for numpy's index type, whose format character is
 * "l" on Linux and "q" on 64-bit Windows; NULL: float32 or float64, whichever it is). */
static Py_buffer *take(Buffers *b, PyObject *obj, int writable, const char *format)
{
    Py_buffer *view = &b->views[b->held];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return NULL;
    b->held++;
    const char *f = view->format; /* a byte-order prefix is fine only if it names this machine's order */
    if (f[0] == '@' || f[0] == '=' || f[0] == (PY_LITTLE_ENDIAN ? '<' : '>'))
        f++;
    int is_float = strcmp(f, "f") == 0, is_double = strcmp(f, "d") == 0;
    int is_intp = f[0] != 0 && f[1] == 0 && strchr("lqn", f[0]) != NULL && view->itemsize == sizeof(Py_ssize_t);
    if (format == NULL ? !(is_float || is_double) : strcmp(format, "intp") == 0 ? !is_intp : strcmp(f, format) != 0) {
        PyErr_Format(PyExc_TypeError, "fused kernels take float32 or float64 arrays of one dtype (and intp indices), "
                     "not '%s'", view->format);
        return NULL;
    }
    return view;
}

static const char *format_of(Py_buffer *view) { return view->itemsize == 4 ? "f" : "d"; }

/* s1 = s1 * b1 + g; s2 = s2 * b2 + g * g, each stored as +0 where below the type's smallest normal number;
 * p -= s1 / (sqrt(s2) + eps) * k */
#define ADAM(T, SQRT, ABS, TINY)                                                                               \
    CLONED static void adam_##T(Py_ssize_t n, T *restrict p, const T *restrict g, T *restrict s1,             \
                                T *restrict s2, T b1, T b2, T eps, T k)                                        \
    {                                                                                                          \
        for (Py_ssize_t i = 0; i < n; i++) {                                                                   \
            T a = s1[i] * b1 + g[i];                                                                           \
            T v = s2[i] * b2 + g[i] * g[i];                                                                    \
            a = ABS(a) < TINY ? (T)0 : a;                                                                      \
            v = v < TINY ? (T)0 : v;                                                                           \
            s1[i] = a;                                                                                         \
            s2[i] = v;                                                                                         \
            p[i] -= a / (SQRT(v) + eps) * k;                                                                   \
        }                                                                                                      \
    }
ADAM(float, sqrtf, fabsf, FLT_MIN)
ADAM(double, sqrt, fabs, DBL_MIN)

/* t = t * keep + weight * o */
#define LERP(T)                                                                                                \
    CLONED static void lerp_##T(Py_ssize_t n, T *restrict t, const T *restrict o, T keep, T weight)           \
    {                                                                                                          \
        for (Py_ssize_t i = 0; i < n; i++)                                                                     \
            t[i] = t[i] * keep + weight * o[i];                                                                \
    }
LERP(float)
LERP(double)

/* Over (members, rows, cols) y and (members, 1, cols) c or NULL: v = y + c; y = (v + |v|) * 0.5, the ReLU of
 * numpy's (a + |a|) / 2, with its bits for NaN and inf too. */
#define BIAS_RELU(T, ABS)                                                                                      \
    CLONED static void bias_relu_##T(Py_ssize_t members, Py_ssize_t rows, Py_ssize_t cols, T *restrict y,      \
                                     const T *restrict c)                                                      \
    {                                                                                                          \
        for (Py_ssize_t k = 0; k < members; k++)                                                               \
            for (Py_ssize_t i = 0; i < rows; i++) {                                                            \
                T *restrict row = y + (k * rows + i) * cols;                                                   \
                if (c == NULL)                                                                                 \
                    for (Py_ssize_t j = 0; j < cols; j++)                                                      \
                        row[j] = (row[j] + ABS(row[j])) * (T)0.5;                                              \
                else                                                                                           \
                    for (Py_ssize_t j = 0; j < cols; j++) {                                                    \
                        T v = row[j] + c[k * cols + j];                                                        \
                        row[j] = (v + ABS(v)) * (T)0.5;                                                        \
                    }                                                                                          \
            }                                                                                                  \
    }
BIAS_RELU(float, fabsf)
BIAS_RELU(double, fabs)

/* Over (members, rows, cols) arrays and (members, 1, cols) s or NULL: d = g * (y > 0) (a masked negative
 * gradient is -0.0, as in numpy); s = 0 + d summed over the rows in row order, as numpy reduces a C-ordered
 * array over its middle axis (from +0.0: a column of -0.0 sums to +0.0). For cols = 1 numpy sums pairwise
 * instead, so the engine calls the numpy twin there. a, (members, cols) or NULL: |d| summed likewise, which is
 * 0 exactly where a column of d is all zero (a sum of non-negative numbers is at least its largest). */
#define RELU_BACKWARD(T, ABS)                                                                                  \
    CLONED static void relu_backward_##T(Py_ssize_t members, Py_ssize_t rows, Py_ssize_t cols,                 \
                                         const T *restrict g, const T *restrict y, T *restrict d,              \
                                         T *restrict s, T *restrict a)                                         \
    {                                                                                                          \
        if (s != NULL)                                                                                         \
            memset(s, 0, members * cols * sizeof(T));                                                          \
        if (a != NULL)                                                                                         \
            memset(a, 0, members * cols * sizeof(T));                                                          \
        for (Py_ssize_t k = 0; k < members; k++)                                                               \
            for (Py_ssize_t i = 0; i < rows; i++) {                                                            \
                Py_ssize_t at = (k * rows + i) * cols;                                                         \
                for (Py_ssize_t j = 0; j < cols; j++)                                                          \
                    d[at + j] = g[at + j] * (T)(y[at + j] > 0);                                                \
                if (s != NULL) {                                                                               \
                    T *restrict sum = s + k * cols;                                                            \
                    for (Py_ssize_t j = 0; j < cols; j++)                                                      \
                        sum[j] += d[at + j];                                                                   \
                }                                                                                              \
                if (a != NULL) {                                                                               \
                    T *restrict sum = a + k * cols;                                                            \
                    for (Py_ssize_t j = 0; j < cols; j++)                                                      \
                        sum[j] += ABS(d[at + j]);                                                              \
                }                                                                                              \
            }                                                                                                  \
    }
RELU_BACKWARD(float, fabsf)
RELU_BACKWARD(double, fabs)

/* put_columns: the (rows, n) array src copied by the bits (as unsigned integers of its element size) into the
 * columns `index` of the (rows, cols) dst, whose other columns become 0: what numpy does in two passes, a fill
 * and a fancy assignment that takes ~1 ns an element. */
#define PUT_COLUMNS(U)                                                                                         \
    static void put_columns_##U(Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t n, const U *restrict src,        \
                                const Py_ssize_t *restrict index, U *restrict dst)                             \
    {                                                                                                          \
        for (Py_ssize_t i = 0; i < rows; i++) {                                                                \
            U *restrict row = dst + i * cols;                                                                  \
            memset(row, 0, cols * sizeof(U));                                                                  \
            for (Py_ssize_t j = 0; j < n; j++)                                                                 \
                row[index[j]] = src[i * n + j];                                                                \
        }                                                                                                      \
    }
PUT_COLUMNS(uint32_t)
PUT_COLUMNS(uint64_t)

/* col2im over channels-last arrays: s, (n, oh, ow, kh, kw, c), holds the gradients of im2col's windows, each
 * added into d, (n, hp, wp, c), where its window read (strides sh, sw). s is read once, in order, while an
 * image's rows of d stay in cache; a kernel row of a window is kw * c contiguous values in both arrays. Every
 * element of d gets its windows in row-major window order, the order of numpy's slice adds over the kernel
 * offsets taken last first (fused_numpy.col2im). */
#define COL2IM(T)                                                                                              \
    CLONED static void col2im_##T(const Py_ssize_t *shape, Py_ssize_t hp, Py_ssize_t wp, Py_ssize_t sh,       \
                                  Py_ssize_t sw, const T *restrict s, T *restrict d)                           \
    {                                                                                                          \
        Py_ssize_t n = shape[0], oh = shape[1], ow = shape[2], kh = shape[3], run = shape[4] * shape[5];       \
        for (Py_ssize_t a = 0; a < n; a++)                                                                     \
            for (Py_ssize_t y = 0; y < oh; y++)                                                                \
                for (Py_ssize_t x = 0; x < ow; x++)                                                            \
                    for (Py_ssize_t i = 0; i < kh; i++, s += run) {                                            \
                        T *restrict row = d + ((a * hp + y * sh + i) * wp + x * sw) * shape[5];                \
                        for (Py_ssize_t k = 0; k < run; k++)                                                   \
                            row[k] += s[k];                                                                    \
                    }                                                                                          \
    }
COL2IM(float)
COL2IM(double)

static int expect(Py_ssize_t nargs, Py_ssize_t n, const char *name)
{
    if (nargs == n)
        return 1;
    PyErr_Format(PyExc_TypeError, "%s takes %zd arguments", name, n);
    return 0;
}

/* adam_step(data, grad, grad_sum, grad_sq_sum, beta1, beta2, eps, step_size), arrays of one size */
static PyObject *adam_step(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (!expect(nargs, 8, "adam_step"))
        return NULL;
    double beta1 = PyFloat_AsDouble(args[4]), beta2 = PyFloat_AsDouble(args[5]);
    double eps = PyFloat_AsDouble(args[6]), step_size = PyFloat_AsDouble(args[7]);
    if (PyErr_Occurred())
        return NULL;
    Buffers b = {.held = 0};
    Py_buffer *data = take(&b, args[0], 1, NULL), *grad, *sum, *sq_sum;
    if (data == NULL || (grad = take(&b, args[1], 0, format_of(data))) == NULL ||
        (sum = take(&b, args[2], 1, format_of(data))) == NULL ||
        (sq_sum = take(&b, args[3], 1, format_of(data))) == NULL)
        return release(&b);
    if (grad->len != data->len || sum->len != data->len || sq_sum->len != data->len) {
        PyErr_SetString(PyExc_ValueError, "adam_step: arrays of different sizes");
        return release(&b);
    }
    Py_ssize_t n = data->len / data->itemsize;
    Py_BEGIN_ALLOW_THREADS;
    if (data->itemsize == 4)
        adam_float(n, data->buf, grad->buf, sum->buf, sq_sum->buf, (float)beta1, (float)beta2, (float)eps,
                   (float)step_size);
    else
        adam_double(n, data->buf, grad->buf, sum->buf, sq_sum->buf, beta1, beta2, eps, step_size);
    Py_END_ALLOW_THREADS;
    release(&b);
    Py_RETURN_NONE;
}

/* lerp(target, online, keep, weight), arrays of one size */
static PyObject *lerp(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (!expect(nargs, 4, "lerp"))
        return NULL;
    double keep = PyFloat_AsDouble(args[2]), weight = PyFloat_AsDouble(args[3]);
    if (PyErr_Occurred())
        return NULL;
    Buffers b = {.held = 0};
    Py_buffer *target = take(&b, args[0], 1, NULL), *online;
    if (target == NULL || (online = take(&b, args[1], 0, format_of(target))) == NULL)
        return release(&b);
    if (online->len != target->len) {
        PyErr_SetString(PyExc_ValueError, "lerp: arrays of different sizes");
        return release(&b);
    }
    Py_ssize_t n = target->len / target->itemsize;
    Py_BEGIN_ALLOW_THREADS;
    if (target->itemsize == 4)
        lerp_float(n, target->buf, online->buf, (float)keep, (float)weight);
    else
        lerp_double(n, target->buf, online->buf, keep, weight);
    Py_END_ALLOW_THREADS;
    release(&b);
    Py_RETURN_NONE;
}

/* Rows of a (members, rows, cols) array of `bytes`, or -1 with an error set if the sizes do not fit. */
static Py_ssize_t rows_of(Py_ssize_t bytes, Py_ssize_t itemsize, Py_ssize_t members, Py_ssize_t cols)
{
    Py_ssize_t n = bytes / itemsize;
    if (members < 1 || cols < 1 || members > PY_SSIZE_T_MAX / cols || n % (members * cols) != 0) {
        PyErr_SetString(PyExc_ValueError, "fused kernel: the array is not (members, rows, cols)");
        return -1;
    }
    return n / (members * cols);
}

/* add_bias_relu(out, bias or None, members, cols) */
static PyObject *add_bias_relu(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (!expect(nargs, 4, "add_bias_relu"))
        return NULL;
    Py_ssize_t members = PyNumber_AsSsize_t(args[2], PyExc_OverflowError),
               cols = PyNumber_AsSsize_t(args[3], PyExc_OverflowError);
    if (PyErr_Occurred())
        return NULL;
    Buffers b = {.held = 0};
    Py_buffer *out = take(&b, args[0], 1, NULL), *bias = NULL;
    if (out == NULL || (args[1] != Py_None && (bias = take(&b, args[1], 0, format_of(out))) == NULL))
        return release(&b);
    Py_ssize_t rows = rows_of(out->len, out->itemsize, members, cols);
    if (rows >= 0 && bias != NULL && bias->len != members * cols * out->itemsize) {
        PyErr_SetString(PyExc_ValueError, "add_bias_relu: the bias is not (members, 1, cols)");
        rows = -1;
    }
    if (rows < 0)
        return release(&b);
    void *c = bias == NULL ? NULL : bias->buf;
    Py_BEGIN_ALLOW_THREADS;
    if (out->itemsize == 4)
        bias_relu_float(members, rows, cols, out->buf, c);
    else
        bias_relu_double(members, rows, cols, out->buf, c);
    Py_END_ALLOW_THREADS;
    release(&b);
    Py_RETURN_NONE;
}

/* relu_backward(grad_out, out, grad_in, bias_grad or None, activity or None, members, cols) */
static PyObject *relu_backward(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (!expect(nargs, 7, "relu_backward"))
        return NULL;
    Py_ssize_t members = PyNumber_AsSsize_t(args[5], PyExc_OverflowError),
               cols = PyNumber_AsSsize_t(args[6], PyExc_OverflowError);
    if (PyErr_Occurred())
        return NULL;
    Buffers b = {.held = 0};
    Py_buffer *grad_out = take(&b, args[0], 0, NULL), *out, *grad_in, *bias_grad = NULL, *activity = NULL;
    if (grad_out == NULL || (out = take(&b, args[1], 0, format_of(grad_out))) == NULL ||
        (grad_in = take(&b, args[2], 1, format_of(grad_out))) == NULL ||
        (args[3] != Py_None && (bias_grad = take(&b, args[3], 1, format_of(grad_out))) == NULL) ||
        (args[4] != Py_None && (activity = take(&b, args[4], 1, format_of(grad_out))) == NULL))
        return release(&b);
    Py_ssize_t rows = rows_of(out->len, out->itemsize, members, cols);
    if (rows >= 0 && (grad_out->len != out->len || grad_in->len != out->len ||
                      (bias_grad != NULL && bias_grad->len != members * cols * out->itemsize) ||
                      (activity != NULL && activity->len != members * cols * out->itemsize))) {
        PyErr_SetString(PyExc_ValueError, "relu_backward: arrays of different shapes");
        rows = -1;
    }
    if (rows < 0)
        return release(&b);
    void *s = bias_grad == NULL ? NULL : bias_grad->buf;
    void *a = activity == NULL ? NULL : activity->buf;
    Py_BEGIN_ALLOW_THREADS;
    if (out->itemsize == 4)
        relu_backward_float(members, rows, cols, grad_out->buf, out->buf, grad_in->buf, s, a);
    else
        relu_backward_double(members, rows, cols, grad_out->buf, out->buf, grad_in->buf, s, a);
    Py_END_ALLOW_THREADS;
    release(&b);
    Py_RETURN_NONE;
}

/* put_columns(src, index, dst): `index` holds n distinct intp column indices of dst, (rows, cols); src is
 * (rows, n). Indices are checked: a wrong one would write outside dst. */
static PyObject *put_columns(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (!expect(nargs, 3, "put_columns"))
        return NULL;
    Buffers b = {.held = 0};
    Py_buffer *src = take(&b, args[0], 0, NULL), *index, *dst;
    if (src == NULL || (index = take(&b, args[1], 0, "intp")) == NULL ||
        (dst = take(&b, args[2], 1, format_of(src))) == NULL)
        return release(&b);
    Py_ssize_t n = index->len / (Py_ssize_t)sizeof(Py_ssize_t), itemsize = src->itemsize;
    Py_ssize_t rows = n == 0 ? 0 : src->len / (n * itemsize);
    Py_ssize_t cols = rows == 0 ? 0 : dst->len / (rows * itemsize);
    const Py_ssize_t *at = index->buf;
    int fits = n == 0 ? src->len == 0 : rows * n * itemsize == src->len && rows * cols * itemsize == dst->len;
    for (Py_ssize_t j = 0; fits && j < n; j++)
        fits = at[j] >= 0 && at[j] < cols;
    if (!fits) {
        PyErr_SetString(PyExc_ValueError, "put_columns: src (rows, n), n indices below cols, dst (rows, cols)");
        return release(&b);
    }
    Py_BEGIN_ALLOW_THREADS;
    if (n == 0)
        memset(dst->buf, 0, dst->len);
    else if (itemsize == 4)
        put_columns_uint32_t(rows, cols, n, src->buf, at, dst->buf);
    else
        put_columns_uint64_t(rows, cols, n, src->buf, at, dst->buf);
    Py_END_ALLOW_THREADS;
    release(&b);
    Py_RETURN_NONE;
}

/* col2im(blocks, grad, stride_h, stride_w): blocks (n, oh, ow, kh, kw, c), grad (n, hp, wp, c). The shapes are
 * checked: windows reaching past grad would write outside it. */
static PyObject *col2im(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (!expect(nargs, 4, "col2im"))
        return NULL;
    Py_ssize_t sh = PyNumber_AsSsize_t(args[2], PyExc_OverflowError),
               sw = PyNumber_AsSsize_t(args[3], PyExc_OverflowError);
    if (PyErr_Occurred())
        return NULL;
    Buffers b = {.held = 0};
    Py_buffer *blocks = take(&b, args[0], 0, NULL), *grad;
    if (blocks == NULL || (grad = take(&b, args[1], 1, format_of(blocks))) == NULL)
        return release(&b);
    const Py_ssize_t *bs = blocks->shape, *gs = grad->shape;
    if (blocks->ndim != 6 || grad->ndim != 4 || sh < 1 || sw < 1 || gs[0] != bs[0] || gs[3] != bs[5] ||
        (bs[1] > 0 && (bs[1] - 1) * sh + bs[3] > gs[1]) || (bs[2] > 0 && (bs[2] - 1) * sw + bs[4] > gs[2])) {
        PyErr_SetString(PyExc_ValueError, "col2im: blocks (n, oh, ow, kh, kw, c) whose windows, at strides of at "
                        "least 1, fit grad (n, hp, wp, c)");
        return release(&b);
    }
    Py_BEGIN_ALLOW_THREADS;
    if (blocks->itemsize == 4)
        col2im_float(bs, gs[1], gs[2], sh, sw, blocks->buf, grad->buf);
    else
        col2im_double(bs, gs[1], gs[2], sh, sw, blocks->buf, grad->buf);
    Py_END_ALLOW_THREADS;
    release(&b);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"adam_step", (PyCFunction)(void (*)(void))adam_step, METH_FASTCALL, NULL},
    {"lerp", (PyCFunction)(void (*)(void))lerp, METH_FASTCALL, NULL},
    {"add_bias_relu", (PyCFunction)(void (*)(void))add_bias_relu, METH_FASTCALL, NULL},
    {"relu_backward", (PyCFunction)(void (*)(void))relu_backward, METH_FASTCALL, NULL},
    {"put_columns", (PyCFunction)(void (*)(void))put_columns, METH_FASTCALL, NULL},
    {"col2im", (PyCFunction)(void (*)(void))col2im, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, .m_name = "_fused", .m_size = 0, .m_methods = methods};

PyMODINIT_FUNC PyInit__fused(void) { return PyModule_Create(&module); }
