"""The staff web app: server-rendered pages for caseworkers and supervisors.

Every view reads through ``cases.selectors`` and writes through ``cases.services``; this
package holds only request handling, forms and templates.
"""
