// modelgate console. Served from this origin only (no inline script anywhere), so a strict
// Content-Security-Policy holds. The pages work without it; it adds checks the browser can make
// itself.
"use strict";
