// herald-test-links: herald_core
#define CAF_SUITE template_render

#include <caf/test/unit_test.hpp>

#include "core/template_render.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace herald;
using nlohmann::json;

namespace {

template_locales welcome() {
  template_locales t;
  t["en"]["email"] = {{"subject", "Welcome, {{name}}!"},
                      {"text", "Hi {{name}} <3{{#vip}} (VIP){{/vip}}"},
                      {"html", "<p>Hi {{name}}</p>{{{footer}}}"}};
  t["en"]["sms"] = {{"text", "Hi {{name}}"}};
  t["pt"]["email"] = {{"subject", "Bem-vindo, {{name}}!"},
                      {"text", "Olá {{name}}"},
                      {"html", "<p>Olá {{name}}</p>"}};
  return t;
}

} // namespace

CAF_TEST(only html parts are escaped) {
  auto r = render_template(welcome(), "en", "email", "en",
                           json{{"name", "Ann & <Bob>"}, {"footer", "<hr>"}});
  CAF_REQUIRE(r.error == render_result::failure::none);
  CAF_CHECK_EQUAL(r.parts["subject"], "Welcome, Ann & <Bob>!");
  CAF_CHECK_EQUAL(r.parts["text"], "Hi Ann & <Bob> <3");
  CAF_CHECK_EQUAL(r.parts["html"], "<p>Hi Ann &amp; &lt;Bob&gt;</p><hr>");
}

CAF_TEST(sections show optional parts and missing sections are false) {
  auto r = render_template(welcome(), "en", "email", "en",
                           json{{"name", "A"}, {"vip", true}, {"footer", ""}});
  CAF_CHECK_EQUAL(r.parts["text"], "Hi A <3 (VIP)");
  template_locales t;
  t["en"]["webhook"] = {{"body", "{{#items}}[{{sku}}x{{qty}}]{{/items}}{{^items}}none{{/items}}"}};
  auto list = render_template(t, "en", "webhook", "",
                              json{{"items", {{{"sku", "a"}, {"qty", 2}},
                                              {{"sku", "b"}, {"qty", 1}}}}});
  CAF_CHECK_EQUAL(list.parts["body"], "[ax2][bx1]");
  auto none = render_template(t, "en", "webhook", "", json::object());
  CAF_CHECK(none.error == render_result::failure::none);
  CAF_CHECK_EQUAL(none.parts["body"], "none");
}

CAF_TEST(a missing variable is an error naming it) {
  auto r = render_template(welcome(), "en", "email", "en", json{{"footer", ""}});
  CAF_CHECK(r.error == render_result::failure::missing_variable);
  CAF_CHECK_EQUAL(r.name, "name");
  template_locales t;
  t["en"]["sms"] = {{"text", "Order {{order.id}} for {{ user }}"}};
  auto nested = render_template(t, "en", "sms", "en", json{{"order", {{"id", 7}}}});
  CAF_CHECK(nested.error == render_result::failure::missing_variable);
  CAF_CHECK_EQUAL(nested.name, "user");
  auto ok = render_template(t, "en", "sms", "en",
                            json{{"order", {{"id", 7}}}, {"user", "u"}});
  CAF_CHECK_EQUAL(ok.parts["text"], "Order 7 for u");
}

CAF_TEST(locales fall back from region to language to the default) {
  CAF_CHECK_EQUAL(locale_chain("pt-BR", "en"),
                  (std::vector<std::string>{"pt-BR", "pt", "en"}));
  CAF_CHECK_EQUAL(locale_chain("en", "en"), (std::vector<std::string>{"en"}));
  CAF_CHECK_EQUAL(locale_chain("", "en"), (std::vector<std::string>{"en"}));
  auto pt = render_template(welcome(), "en", "email", "pt-BR", json{{"name", "Ana"}});
  CAF_CHECK_EQUAL(pt.locale, "pt");
  CAF_CHECK_EQUAL(pt.parts["subject"], "Bem-vindo, Ana!");
  // pt has no SMS part: the default locale's.
  auto sms = render_template(welcome(), "en", "sms", "pt-BR", json{{"name", "Ana"}});
  CAF_CHECK_EQUAL(sms.locale, "en");
  CAF_CHECK_EQUAL(sms.parts["text"], "Hi Ana");
  auto de = render_template(welcome(), "en", "email", "de", json{{"name", "X"}, {"footer", ""}});
  CAF_CHECK_EQUAL(de.locale, "en");
}

CAF_TEST(a channel the template lacks is an error naming it) {
  auto r = render_template(welcome(), "en", "push", "en", json::object());
  CAF_CHECK(r.error == render_result::failure::no_channel);
  CAF_CHECK_EQUAL(r.name, "push");
}

CAF_TEST(templates that do not parse are refused with line and column) {
  template_locales t;
  t["en"]["email"] = {{"subject", "ok"}, {"text", "line one\nHi {{#name}} there"}};
  auto e = check_template(t);
  CAF_REQUIRE(e.has_value());
  CAF_CHECK_EQUAL(e->part, "en.email.text");
  CAF_CHECK_EQUAL(e->line, 2);
  CAF_CHECK_EQUAL(e->column, 4);
  CAF_CHECK(e->message.find("name") != std::string::npos);
  t["en"]["email"]["text"] = "x\ny {{name";
  auto unclosed = check_template(t);
  CAF_REQUIRE(unclosed.has_value());
  CAF_CHECK_EQUAL(unclosed->line, 2);
  CAF_CHECK_EQUAL(unclosed->column, 3);
  CAF_CHECK(!check_template(welcome()).has_value());
}
