#pragma once

// The dashboard page served at GET / on the admin port: the text of
// http/dashboard/index.html, compiled in (cmake/EmbedFile.cmake).

namespace herald {

const char* dashboard_html();

} // namespace herald
