-- The one place the version is written; the Makefile, the rockspecs and
-- pxlua -v read it from here.
return "0.1.0"
