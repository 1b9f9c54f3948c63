"""Publishing: what may be shown, and the maps, reports and workbooks that show it.

What enters: a ``Dataset``, findings, access summaries and siting results. What leaves: public
tables with small counts suppressed (:mod:`~planning.publish.privacy`, the single place where
publishing decides what is hidden), offline folium maps (:mod:`~planning.publish.maps`), static
PNG/PDF maps, GeoPackages and the district brief (:mod:`~planning.publish.report`) and the Excel
compliance workbook (:mod:`~planning.publish.workbook`). Nothing patient-level enters.
"""
