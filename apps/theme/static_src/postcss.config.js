// Tailwind 4 handles nesting and variables itself; no other PostCSS plugins are needed.
module.exports = {
  plugins: {
    "@tailwindcss/postcss": {},
  },
}
