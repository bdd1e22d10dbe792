#!/usr/bin/env bash
# Renders the README's screenshots from a fresh demo: LibreOffice headless to PDF, then
# pdftoppm (Debian's poppler-utils) to PNG. Run from the repository root.
set -euo pipefail
out=docs/img
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
participation-xl demo "$tmp/demo" >/dev/null
cp "$tmp/demo/reports/register.xlsx" "$tmp/demo/reports/compliance.xlsx" "$tmp"
cp "$tmp/demo/reports/feedback/SW02-audit.xlsx" "$tmp/feedback.xlsx"
cp "$tmp/demo/outbox/ADV1 Independent Advocacy/"*"Six Standards"*.xlsx "$tmp/issued.xlsx"
(cd "$tmp" && soffice "-env:UserInstallation=file://$tmp/profile" --headless --convert-to pdf \
  register.xlsx compliance.xlsx feedback.xlsx issued.xlsx >/dev/null 2>&1)
pdftoppm -r 60 -png -f 1 -l 1 "$tmp/register.pdf" "$out/register-overview"
pdftoppm -r 60 -png -f 1 -l 2 "$tmp/compliance.pdf" "$out/compliance"
# The Matrix: the first page whose text has its title.
pages=$(pdfinfo "$tmp/compliance.pdf" | awk '/^Pages:/ {print $2}')
for n in $(seq 1 "$pages"); do
  if pdftotext -f "$n" -l "$n" "$tmp/compliance.pdf" - | grep -q "each service's rating"; then
    pdftoppm -r 60 -png -f "$n" -l "$n" -singlefile "$tmp/compliance.pdf" "$out/compliance-matrix"
    break
  fi
done
pdftoppm -r 60 -png -f 1 -l 1 "$tmp/feedback.pdf" "$out/feedback-please-fix"
pdftoppm -r 60 -png -f 3 -l 3 "$tmp/issued.pdf" "$out/issued-six-standards"
ls -la "$out"
